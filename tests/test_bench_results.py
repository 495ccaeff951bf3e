"""The benchmarks' shared results helpers: the machine line under every results table, the
progress lines of a long scoring."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

AMD = {"cpu": "AMD EPYC", "cores": 2}
INTEL = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2}


@pytest.fixture
def results(benchmark_module) -> ModuleType:
    return benchmark_module("results")


def test_one_machine_gives_one_line(results: ModuleType) -> None:
    records = [{"name": "a", "machine": AMD}, {"name": "b", "machine": AMD}]
    assert results.machine_line(records) == f"Machine: {json.dumps(AMD)}"


def test_rows_from_two_machines_are_named_under_each(results: ModuleType) -> None:
    # A part re-run in another session on another CPU: the table must not claim one machine.
    records = [
        {"name": "a", "machine": AMD},
        {"name": "b", "machine": INTEL},
        {"name": "c", "machine": AMD},
    ]
    lines = results.machine_line(records, lambda r: r["name"]).splitlines()
    assert lines[0].startswith("Machines (")
    assert lines[1:] == [f"- {json.dumps(AMD)}: a, c", f"- {json.dumps(INTEL)}: b"]
    # without a label, rows are named by their number in the table
    assert results.machine_line(records).splitlines()[2] == f"- {json.dumps(INTEL)}: row 2"


def test_progress_hooks_say_each_stage_and_every_nth_score(results: ModuleType, capsys) -> None:
    hooks = results.progress_hooks("[bench] fashion-mnist", every=2)
    hooks["stage"]("scoring 5 of 80 architectures with gtn:32")
    for _ in range(5):
        hooks["result"](None)
    hooks["stage"]("scoring 3 of 80 architectures with real:32")  # the count starts again
    hooks["result"](None)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[bench] fashion-mnist: scoring 5 of 80 architectures with gtn:32"
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "[bench] fashion-mnist:   2 scored",
        "[bench] fashion-mnist:   4 scored",
        "[bench] fashion-mnist: scoring 3 of 80 architectures with real:32",
    ]
    assert lines[1].endswith(" s each)")
