"""Turning CLI options into a validated config: defaults, then a JSON file, then explicit
options, then ``--set key.path=value`` overrides; the result goes through the component's
dataclass, which rejects unknown keys and bad values by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gtnas.errors import ConfigError


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return values


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """``["meta.meta_lr=0.02", "teacher_options.soft_labels=true"]`` -> nested dict. Values
    are parsed as JSON when they can be (numbers, booleans, lists), else kept as strings."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. meta.meta_lr=0.02), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = value
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"meta.iterations": 5} -> {"meta": {"iterations": 5}}; None values are dropped."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


_INVOCATION: list[str] = []  # the arguments the running CLI was given (set by gtnas.cli.app)


def set_invocation(argv: list[str]) -> None:
    _INVOCATION[:] = argv


def invocation() -> list[str]:
    """The arguments of the running ``gtnas`` command, as given (a command that relaunches
    itself in several processes passes them on)."""
    return list(_INVOCATION)
