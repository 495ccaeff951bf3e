"""A progress bar for long jobs (meta-training, search) that shows the numbers that matter.

A thin layer over ``rich.progress``: ``advance(meta_loss=0.41, val_acc=0.93)`` moves the bar and
shows those fields next to it with the rate in it/s. It draws only on an interactive terminal
(to stderr, so piped stdout stays clean); in logs, CI and tests it is a no-op that costs a
method call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class ProgressBar(Protocol):
    def advance(self, n: int = 1, **fields: Any) -> None:
        """Move ``n`` steps forward and show ``fields`` (``n=0`` only updates the fields)."""


class _NoBar:
    def advance(self, n: int = 1, **fields: Any) -> None:
        pass


class _RichBar:
    def __init__(self, progress: Progress, task_id: Any) -> None:
        self._progress, self._task_id = progress, task_id

    def advance(self, n: int = 1, **fields: Any) -> None:
        info = "  ".join(f"{name}={_short(value)}" for name, value in fields.items())
        if info:
            self._progress.update(self._task_id, advance=n, info=info)
        else:
            self._progress.advance(self._task_id, n)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.2f} it/s", style="progress.data.speed")


@contextmanager
def progress_bar(
    total: int,
    description: str,
    *,
    disable: bool = False,
    console: Console | None = None,
) -> Iterator[ProgressBar]:
    """A bar of ``total`` steps, drawn on ``console`` (default: stderr) if it is a terminal."""
    console = console or Console(stderr=True)
    if disable or not console.is_terminal:
        yield _NoBar()
        return
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("<"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    with progress:
        yield _RichBar(progress, progress.add_task(description, total=total, info=""))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
