"""progress_bar: silent off a terminal, shows custom fields on one."""

from __future__ import annotations

import io

from rich.console import Console

from gtnas.runtime.progress import progress_bar


def test_disabled_bar_is_a_silent_no_op() -> None:
    out = io.StringIO()
    with progress_bar(3, "meta-train", console=Console(file=out)) as bar:  # not a terminal
        bar.advance(meta_loss=0.5)
    with progress_bar(3, "meta-train", disable=True) as bar:
        bar.advance(2)
    assert out.getvalue() == ""


def test_terminal_bar_shows_fields() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with progress_bar(4, "meta-train", console=console) as bar:
        bar.advance()
        bar.advance(3, meta_loss=0.123456, val_acc=0.9)
    text = out.getvalue()
    assert "meta-train" in text and "4/4" in text
    assert "meta_loss=0.1235" in text and "val_acc=0.9" in text
