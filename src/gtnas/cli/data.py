"""``gtnas data``: list, fetch, inspect and look at the data sets.

Where files come from is reported on stderr; results (tables, paths) go to stdout.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(
    help="Data sets: list, fetch, inspect and show them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False, soft_wrap=True)

NAME_HELP = "mnist, fashion-mnist, cifar10, idx:<folder> or cifar:<folder>."


class SplitName(StrEnum):
    train = "train"
    val = "val"
    test = "test"


@app.command("list")
def list_datasets() -> None:
    """List the registered data sets and whether each is in the cache."""
    from gtnas.data import DATASETS, cache_root
    from gtnas.data.catalog import USER_FORMATS

    root = cache_root()
    table = Table(title=f"data sets (cache: {escape(str(root))})", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("cached")
    for name in DATASETS:
        spec = DATASETS.create(name)
        cached = all(spec.format.find(root / name, file) for file in spec.format.files)
        table.add_row(name, DATASETS.help(name), "yes" if cached else "no")
    for kind, file_format in USER_FORMATS.items():
        table.add_row(f"{kind}:<folder>", f"your own folder of {file_format.describe_files}", "")
    console.print(table)


@app.command()
def fetch(
    name: str = typer.Argument(..., metavar="NAME", help=NAME_HELP),
    force: bool = typer.Option(False, "--force", help="Ignore the cache and fetch afresh."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not report each source tried."),
) -> None:
    """Put a data set's verified files in the cache (cache, then download, then fallbacks)."""
    from gtnas.data import fetch_dataset

    fetched = fetch_dataset(name, force=force, quiet=quiet)
    console.print(f"{escape(name)}: from {escape(fetched.source)}")
    console.print(f"cache: {escape(str(fetched.folder))}")


@app.command()
def info(
    name: str = typer.Argument(..., metavar="NAME", help=NAME_HELP),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the validation split."),
) -> None:
    """Sizes before and after the validation split, shape, classes and pixel statistics."""
    import torch

    from gtnas.data import load_dataset

    ds = load_dataset(name, split_seed=split_seed)
    train_labels = torch.cat([ds.train.labels, ds.val.labels])  # the training files, unsplit
    train_images = torch.cat([ds.train.images, ds.val.images])
    # Raw pixel statistics in [0, 1]: undo the normalisation (x * std + mean is affine).
    norm_mean = train_images.mean(dim=(0, 2, 3))  # (C,)
    norm_std = train_images.std(dim=(0, 2, 3))  # (C,)
    raw_mean = [float(m * s + mu) for m, s, mu in zip(norm_mean, ds.std, ds.mean, strict=True)]
    raw_std = [float(v * s) for v, s in zip(norm_std, ds.std, strict=True)]

    table = Table(title=escape(ds.name), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # a long folder path wraps whole, never cut to "…"
    c, h, w = ds.image_shape
    rows = [
        ("train images (before split)", f"{len(train_labels):,}"),
        (
            f"train / val / test (split seed {split_seed})",
            f"{len(ds.train):,} / {len(ds.val):,} / {len(ds.test):,}",
        ),
        ("image shape (C, H, W)", f"{c} x {h} x {w}"),
        ("classes", str(ds.num_classes)),
        ("raw pixel mean, [0, 1] (train)", _numbers(raw_mean)),
        ("raw pixel std, [0, 1] (train)", _numbers(raw_std)),
        ("normalisation mean / std", f"{_numbers(ds.mean)} / {_numbers(ds.std)}"),
        ("source", ds.source),
        ("folder" if ds.source.startswith("folder ") else "cache path", str(ds.folder)),
    ]
    for key, value in rows:
        table.add_row(key, escape(value))
    console.print(table)

    counts = Table(title="images per class", title_justify="left")
    for column in ("class", "name", "train (before split)", "test"):
        counts.add_column(column, justify="left" if column == "name" else "right")
    train_counts = torch.bincount(train_labels, minlength=ds.num_classes).tolist()
    test_counts = torch.bincount(ds.test.labels, minlength=ds.num_classes).tolist()
    for k, class_name in enumerate(ds.class_names):
        counts.add_row(str(k), escape(class_name), f"{train_counts[k]:,}", f"{test_counts[k]:,}")
    console.print(counts)


@app.command()
def show(
    name: str = typer.Argument(..., metavar="NAME", help=NAME_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the PNG."),
    split: SplitName = typer.Option(SplitName.train, "--split", help="Which split to draw from."),
    per_class: int = typer.Option(8, "--per-class", min=1, max=64, help="Images per class."),
) -> None:
    """Write a PNG grid: one row per class (labelled), the first images of that class."""
    import torch

    from gtnas.data import load_dataset
    from gtnas.reports.grids import save_image_grid

    ds = load_dataset(name)
    images, labels = getattr(ds, split.value)
    # (classes, per_class, C, H, W); NaN marks an empty cell when a class has fewer images.
    grid = torch.full((ds.num_classes, per_class, *ds.image_shape), float("nan"))
    for k in range(ds.num_classes):
        index = torch.nonzero(labels == k)[:per_class, 0]  # the first images of class k
        grid[k, : len(index)] = images[index]
    title = f"{ds.name}: first {per_class} {split.value} images of each class"
    path = save_image_grid(
        grid, out, mean=ds.mean, std=ds.std, row_labels=list(ds.class_names), title=title
    )
    console.print(f"wrote {escape(str(path))} ({ds.num_classes} classes x {per_class} images)")


def _numbers(values: tuple[float, ...] | list[float]) -> str:
    return ", ".join(f"{v:.4f}" for v in values)
