"""Helpers for the frozen dataclass configs that each component owns.

Configs are composed at the entry point from plain dicts (CLI options, JSON files); unknown keys
and values of the wrong type are rejected with a message that names them.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from gtnas.errors import ConfigError
from gtnas.runtime.files import atomic_write_text

C = TypeVar("C")


def merge_values(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top, nested dicts merged key by key (a config dict plus
    a partial one: a config file, --set options, a benchmark preset)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def config_from_dict(cls: type[C], values: dict[str, Any], *, where: str = "") -> C:
    """Build the dataclass ``cls`` from ``values``, rejecting unknown keys and bad types.

    Nested dataclass fields may be given as dicts. ``where`` prefixes messages (e.g. "teacher.").
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)} for {cls.__name__}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {cls.__name__}: {exc}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value, where=key + ".")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key {key}={value!r} has the wrong type; expected {hint}")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(map(repr, typing.get_args(hint)))
            raise ConfigError(f"config key {key}={value!r} is not one of {choices}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key}={value!r} should be a list")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return origin(_coerce(inner, v, key) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(
            f"config key {key}={value!r} has the wrong type; expected {hint.__name__}"
        )
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def write_config(config: Any, path: Path) -> None:
    """Write the resolved config next to a run's results."""

    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
