"""Writing a benchmark's results: records merged into ``<name>.json`` by a key (a re-run of one
part replaces only its records), the readable table redrawn into ``<name>.md``; and the
argument parser every benchmark's command line starts from."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

Record = dict[str, Any]


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose ``--help`` shows the benchmark's whole module docstring (its usage lines
    and outputs) as written."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def write_records(
    folder: Path,
    name: str,
    records: list[Record],
    key: Callable[[Record], Hashable],
    render: Callable[[list[Record]], str],
) -> list[Record]:
    """Merge ``records`` into ``folder/name.json`` (an old record with the same key is
    replaced), write ``render(merged)`` to ``folder/name.md``; returns the merged records."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    old = json.loads(path.read_text()) if path.exists() else []
    keys = {key(r) for r in records}
    merged = [r for r in old if key(r) not in keys] + records
    path.write_text(json.dumps(finite(merged), indent=2, allow_nan=False) + "\n")
    (folder / f"{name}.md").write_text(render(merged))
    return merged


def finite(value: Any) -> Any:
    """NaN (e.g. the correlation of a constant column) and infinities as null: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def machine_line(records: list[Record]) -> str:
    """The table's last line: the machine of the newest record."""
    machine = records[-1]["machine"] if records else {}
    return f"Machine: {json.dumps(machine)}"
