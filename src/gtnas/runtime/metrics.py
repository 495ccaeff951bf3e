"""An append-only JSON-lines metrics log that survives crashes and resumes.

One JSON object per line, flushed as it is written, so a killed run keeps every record up to
the last one (``tail -f`` and ``jq`` work while it runs). A record is complete only once its
newline is written: a crash mid-write leaves a partial last line, which :meth:`MetricsLog.read`
ignores and the next :meth:`~MetricsLog.append` or :meth:`~MetricsLog.truncate_after` removes.

Non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``:
the file stays strict JSON for other tools, and a diverged run still says whether it went to
nan or inf. ``read`` turns those strings back into floats.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write_bytes

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class MetricsLogError(GtnasError):
    """A metrics log has a corrupt line that is not the last one."""


class MetricsLog:
    """Records of one run, e.g. ``{"iteration": 12, "meta_loss": 0.41, "val_acc": 0.93}``.

    Resuming from a checkpoint at iteration N: call ``truncate_after(N)`` first so records a
    later, killed attempt wrote past N are not duplicated. For that to be exact, log an
    iteration's record before saving its checkpoint.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as one line. NumPy and 0-d tensor numbers become plain numbers."""
        line = json.dumps(_plain(record), allow_nan=False).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            _drop_partial_tail(handle)
            handle.write(line)
            handle.flush()

    def read(self) -> list[dict[str, Any]]:
        """Every complete record, in order; [] if the log does not exist yet."""
        return [record for _, record in self._lines()]

    def truncate_after(self, step: int, key: str = "iteration") -> int:
        """Atomically drop records whose ``key`` is greater than ``step`` (and a partial last
        line); records without ``key`` stay. Returns how many records were dropped."""
        if not self.path.exists():
            return 0
        lines = self._lines()
        kept = [
            raw
            for raw, record in lines
            if not (isinstance(record.get(key), int | float) and record[key] > step)
        ]
        atomic_write_bytes(self.path, b"".join(raw + b"\n" for raw in kept))
        return len(lines) - len(kept)

    def _lines(self) -> list[tuple[bytes, dict[str, Any]]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        pieces = data.split(b"\n")[:-1]  # the last piece is b"" or a partial line
        return [(raw, self._parse(raw, n)) for n, raw in enumerate(pieces, 1) if raw.strip()]

    def _parse(self, line: bytes, number: int) -> dict[str, Any]:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            raise MetricsLogError(
                f"metrics log {self.path} line {number} is not a JSON object; "
                "fix or delete that line, or start the run over"
            )
        return _with_non_finite(record)


def _drop_partial_tail(handle: Any) -> None:
    """Cut a last line that has no newline (a crash mid-write) so the next record starts
    on a line of its own."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 4096)
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            handle.truncate(start + newline + 1)
            return
        end = start
    handle.truncate(0)


def _plain(value: Any) -> Any:
    """A JSON-ready copy: non-finite floats as strings, NumPy/torch scalars as numbers."""
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _with_non_finite(value: Any) -> Any:
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    if isinstance(value, dict):
        return {k: _with_non_finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_non_finite(v) for v in value]
    return value
