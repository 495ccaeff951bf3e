"""``gtnas data ...`` through ``gtnas.cli.app.main``: exit codes and what is printed."""

from __future__ import annotations

import re

import pytest

import gtnas.cli.data as data_cli
from gtnas.cli.app import main
from pictures import assert_picture


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # rich wraps at 80 columns when output is captured; widen the command's console so lines
    # can be matched whole. Setting COLUMNS is not enough: a console reads it once, when it is
    # made, and a pytest-xdist worker had COLUMNS=80 when gtnas.cli.data was imported.
    monkeypatch.setattr(data_cli.console, "_width", 200)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["data", *args])
    out, err = capsys.readouterr()
    return code, out, err


def squashed(text: str) -> str:
    """``text`` without white space and table borders: what a wrapped table cell reads."""
    return re.sub(r"[\s│┃]", "", text)


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_list(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in ("mnist", "fashion-mnist", "cifar10", "idx:<folder>", "cifar:<folder>"):
        assert name in out


def test_info_mnist(capsys, mnist, shared_data_root, monkeypatch):
    monkeypatch.setenv("GTNAS_DATA", str(shared_data_root))
    code, out, err = run(capsys, "info", "mnist")
    assert code == 0
    assert "60,000" in out  # the training files, before the split
    assert "50,000 / 10,000 / 10,000" in out
    assert "1 x 28 x 28" in out
    assert "0.1307" in out and "0.3081" in out
    assert "5,923" in out and "1,135" in out  # per-class counts: train class 0, test class 1
    assert f"cache {shared_data_root / 'mnist'}" in out
    assert "✓ cache" in err  # the source tried is reported on stderr


def test_fetch_mnist_from_cache(capsys, mnist, shared_data_root, monkeypatch):
    monkeypatch.setenv("GTNAS_DATA", str(shared_data_root))
    code, out, _ = run(capsys, "fetch", "mnist", "--quiet")
    assert code == 0
    assert out.splitlines() == [
        f"mnist: from cache {shared_data_root / 'mnist'}",
        f"cache: {shared_data_root / 'mnist'}",
    ]


def test_show_mnist(capsys, mnist, shared_data_root, monkeypatch, tmp_path):
    monkeypatch.setenv("GTNAS_DATA", str(shared_data_root))
    out_path = tmp_path / "grid.png"
    code, out, _ = run(capsys, "show", "mnist", "--out", str(out_path), "--per-class", "4")
    assert code == 0 and "10 classes x 4 images" in out
    assert_picture(out_path)


def test_show_and_info_on_own_folders(capsys, idx_folder, cifar_folder, tmp_path):
    folder, _ = idx_folder()
    code, out, _ = run(
        capsys,
        "show",
        f"idx:{folder}",
        "--out",
        str(tmp_path / "a.png"),
        "--split",
        "val",
        "--per-class",
        "3",
    )
    assert code == 0 and (tmp_path / "a.png").is_file()
    folder, _ = cifar_folder(n_batches=2)
    code, out, _ = run(capsys, "info", f"cifar:{folder}")
    assert code == 0 and "3 x 32 x 32" in out and "airplane" in out
    # the table folds a long path over its lines (a pytest-xdist worker prints 80 columns wide)
    assert squashed(f"folder {folder}") in squashed(out)


def test_fetch_own_folder(capsys, idx_folder):
    folder, _ = idx_folder()
    code, out, err = run(capsys, "fetch", f"idx:{folder}")
    assert code == 0 and f"from folder {folder}" in out and "✓ folder" in err


def test_missing_folder_is_one_line_exit_2(capsys):
    code, out, err = run(capsys, "info", "idx:/no/such/folder")
    assert code == 2 and out == ""
    assert error_line(err).startswith("error: folder /no/such/folder does not exist;")


def test_truncated_file_is_one_line_exit_2(capsys, idx_folder):
    folder, _ = idx_folder()
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    code, _, err = run(capsys, "info", f"idx:{folder}")
    assert code == 2
    assert error_line(err).startswith(f"error: {path}: truncated:")


def test_unknown_name_exit_2(capsys):
    code, _, err = run(capsys, "fetch", "mnsit")
    assert code == 2 and "choose one of: cifar10, fashion-mnist, mnist" in error_line(err)


def test_bad_split_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "show", "mnist", "--out", str(tmp_path / "x.png"), "--split", "dev")
    assert code == 2 and "dev" in err
