"""Telling the user where data comes from: one line per source tried, bars for long transfers.

Lines go to a callback when one is given (the Python API), else to stderr through rich, so the
stdout of ``gtnas data info`` stays clean. Bars are drawn only on an interactive terminal.
``quiet`` silences both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

Advance = Callable[[int], None]  # advance(number of bytes done since the last call)


class Reporter:
    def __init__(self, callback: Callable[[str], None] | None = None, quiet: bool = False) -> None:
        self.callback = callback
        self.quiet = quiet
        self._console = None if quiet or callback else Console(stderr=True)

    def attempt(self, source: str, ok: bool, detail: str) -> None:
        """Report one source tried: ``✓ cache /path: verified`` or ``✗ download URL: reason``."""
        mark = "✓" if ok else "✗"
        if self.quiet:
            return
        if self.callback is not None:
            self.callback(f"{mark} {source}: {detail}")
        elif self._console is not None:
            style = "green" if ok else "yellow"
            self._console.print(
                f"[{style}]{mark}[/] {escape(source)}: {escape(detail)}",
                highlight=False,
                soft_wrap=True,
            )

    @contextmanager
    def bar(self, description: str, total: int | None) -> Iterator[Advance]:
        """A byte-counting bar (``total`` None when the size is unknown)."""
        if self._console is None or not self._console.is_terminal:
            yield lambda n: None
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        with progress:
            task = progress.add_task(escape(description), total=total)
            yield lambda n: progress.advance(task, n)
