"""Writing a benchmark's results: records merged into ``<name>.json`` by a key (a re-run of one
part replaces only its records), the readable table redrawn into ``<name>.md``; and the
argument parser every benchmark's command line starts from."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from gtnas.runtime.files import atomic_write_text

Record = dict[str, Any]


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose ``--help`` shows the benchmark's whole module docstring (its usage lines
    and outputs) as written."""
    return argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def progress_hooks(prefix: str, every: int = 20) -> dict[str, Callable[..., None]]:
    """``score_truth_set`` hooks for a long scoring's log: each stage's line (what starts), then
    every ``every`` architectures scored, with the mean wall seconds each since the stage began
    (an 8-hour scoring otherwise printed one line in its first hours)."""
    done, started = 0, time.monotonic()

    def on_stage(message: str) -> None:
        nonlocal done, started
        done, started = 0, time.monotonic()
        print(f"{prefix}: {message}", flush=True)

    def on_result(_record: Any) -> None:
        nonlocal done
        done += 1
        if done % every == 0:
            each = (time.monotonic() - started) / done
            print(f"{prefix}:   {done} scored ({each:.1f} s each)", flush=True)

    return {"stage": on_stage, "result": on_result}


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
    # atomically: a benchmark killed mid-write leaves the old results, never half a file
    atomic_write_text(path, json.dumps(finite(merged), indent=2, allow_nan=False) + "\n")
    atomic_write_text(folder / f"{name}.md", render(merged))
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


def machine_line(records: list[Record], label: Callable[[Record], str] | None = None) -> str:
    """The table's last line: the machine its records ran on. Records from more than one
    machine (a re-run of one part on another session's machine) get one line per machine,
    naming its rows by ``label`` (default: their row numbers), since their timings compare only
    within one machine."""
    machines: dict[str, list[str]] = {}
    for i, record in enumerate(records, 1):
        machine = json.dumps(record.get("machine", {}))
        machines.setdefault(machine, []).append(label(record) if label else f"row {i}")
    if len(machines) <= 1:
        return f"Machine: {next(iter(machines), json.dumps({}))}"
    lines = ["Machines (times and overheads compare only between rows of one machine):"]
    lines += [f"- {machine}: {', '.join(rows)}" for machine, rows in machines.items()]
    return "\n".join(lines)
