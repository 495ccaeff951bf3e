"""The benchmarks' shared results helpers: the machine line under every results table."""

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
