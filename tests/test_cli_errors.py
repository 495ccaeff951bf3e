"""Every error that reaches the CLI is one line; GTNAS_DEBUG=1 shows the traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtnas.cli.app import main


def _break_study_storage(monkeypatch, exc: Exception) -> None:
    """The study storage fails under a running command (its SQLite file replaced, say)."""
    import gtnas.search.study as study

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(study.Study, "open", classmethod(lambda cls, *a, **k: broken()))


@pytest.mark.parametrize(
    "exc,status,words",
    [
        (RuntimeError("(sqlite3.DatabaseError) file is not a database\n[SQL: SELECT ...]"), 1,
         "unexpected RuntimeError: (sqlite3.DatabaseError) file is not a database"),
        (PermissionError(13, "Permission denied"), 1, "check the path, the disk"),
        (FileNotFoundError(2, "No such file or directory", "/proc/nope"), 1,
         "error: /proc/nope: No such file or directory (check the path"),
        (OSError(28, "No space left on device", "/tmp/x.json.tmp", None, "/tmp/x.json"), 1,
         "error: /tmp/x.json.tmp -> /tmp/x.json: No space left on device"),
    ],
)  # fmt: skip
def test_an_unexpected_error_is_one_line_with_a_hint(
    tmp_path: Path, monkeypatch, capsys, exc: Exception, status: int, words: str
) -> None:
    _break_study_storage(monkeypatch, exc)
    (tmp_path / "studies.db").write_bytes(b"")
    assert main(["report", "s", "--out", str(tmp_path)]) == status
    err = capsys.readouterr().err
    assert words in err and "GTNAS_DEBUG=1" in err
    assert len(err.strip().splitlines()) == 1, err
    monkeypatch.setenv("GTNAS_DEBUG", "1")
    with pytest.raises(type(exc)):
        main(["report", "s", "--out", str(tmp_path)])


def test_an_error_message_with_brackets_is_printed_as_it_is(tmp_path, monkeypatch, capsys) -> None:
    """Messages from libraries (gloo's '[/path/pair.cc:553]') are text, not console markup."""
    from gtnas.errors import GtnasError

    message = "lost its peers ([/__w/pytorch/gloo/transport/tcp/pair.cc:553] Connection closed)"
    _break_study_storage(monkeypatch, GtnasError(message))
    (tmp_path / "studies.db").write_bytes(b"")
    assert main(["report", "s", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_ctrl_c_is_exit_130_with_one_line(monkeypatch, capsys) -> None:
    """Typer turns a KeyboardInterrupt into an exit status it returns (not raises) outside
    standalone mode; an interrupted command must not exit 0 (a script would go on)."""
    import gtnas.data

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(gtnas.data, "cache_root", interrupted)
    assert main(["data", "list"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    assert main(["--version"]) == 0  # typer.Exit(0) stays a success
