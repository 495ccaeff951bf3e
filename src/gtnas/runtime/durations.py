"""Durations as people write them: ``30m`` in, ``1.5h`` out (time budgets, simulated
budgets, a build's time left)."""

from __future__ import annotations

import re

from gtnas.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"1.5h"``, ``"600"`` (seconds) -> seconds."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ConfigError(
            f"cannot read the duration {text!r}: write a number with s, m, h or d, e.g. 30m"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"a duration must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as the shortest of ``45s``, ``10m``, ``1.5h``."""
    if seconds < 120:
        return f"{seconds:.3g}s"
    if seconds < 7200:
        return f"{seconds / 60:.3g}m"
    return f"{seconds / 3600:.3g}h"
