"""The meta-step overhead benchmark end to end (`python -m benchmarks.overhead`), quick size."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    out = tmp_path_factory.mktemp("bench-overhead")
    args = ["--preset", "quick", "--teachers", "pixels", "--repeats", "2", "--out", str(out)]
    run_benchmark("overhead", args)
    return out


def test_records_time_both_passes_and_their_ratio(results: Path) -> None:
    (record,) = json.loads((results / "overhead.json").read_text())
    assert (record["preset"], record["teacher"], record["inner_steps"]) == ("quick", "pixels", 16)
    assert record["scored_steps"] == 16  # real data after every step, as meta-training does
    assert len(record["plain_seconds"]) == len(record["meta_seconds"]) == 2
    plain, meta = (
        statistics.fmean(record["plain_seconds"]),
        statistics.fmean(record["meta_seconds"]),
    )
    assert record["meta_overhead"] == pytest.approx(meta / plain)
    # the meta-gradient trains the same steps and then differentiates through all of them
    assert meta > plain > 0
    # run like meta-training: freed memory kept (GTNAS_KEEP_FREED_MEMORY unset), faults counted
    assert record["keep_freed_memory"] is True
    assert record["meta_page_faults"] >= 0 and record["plain_page_faults"] >= 0
    table = (results / "overhead.md").read_text()
    assert "| quick | pixels | 16 x 64 | 2 |" in table and "Machine:" in table
