"""The truth-step benchmark end to end (`python -m benchmarks.truth_step`) on two cells of the
shipped Fashion-MNIST set, at the tiny blueprint so that it takes seconds."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "truth" / "fashion-mnist-nb201-n100-e7-search-head3-s2.json"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, run_benchmark) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench-truth-step")
    document = json.loads(SHIPPED.read_text())
    document["blueprint"] = document["recipe"]["blueprint"] = "tiny"
    truth = out / "tiny-set.json"
    truth.write_text(json.dumps(document))
    args = ["--truth", str(truth), "--cells", "0,2", "--repeats", "2", "--out", str(out)]
    run_benchmark("truth_step", args)
    return out, document


def test_records_price_a_training_here_against_the_recorded_one(results) -> None:
    out, document = results
    records = json.loads((out / "truth_step.json").read_text())
    assert [r["genotype"] for r in records] == [document["records"][i]["genotype"] for i in (0, 2)]
    ratios = []
    for record, index in zip(records, (0, 2), strict=True):
        cell = document["records"][index]
        assert record["truth"] == "tiny-set" and record["repeats"] == 2
        assert len(record["ms_per_step_all"]["channels_last"]) == 2
        assert record["ms_per_step"] == pytest.approx(
            statistics.median(record["ms_per_step_all"]["channels_last"])
        )
        assert record["ms_per_step_contiguous"] == pytest.approx(
            statistics.median(record["ms_per_step_all"]["contiguous"])
        )
        assert record["training_seconds"] == pytest.approx(
            record["ms_per_step"] / 1000 * cell["steps"]
        )
        fastest = min(s["train_seconds"] for s in cell["seeds"])
        assert record["recorded_training_seconds"] == fastest
        assert record["slower_than_recorded"] == pytest.approx(record["training_seconds"] / fastest)
        ratios.append(record["slower_than_recorded"])
    assert records[1]["profile"] == []  # only the first cell is profiled
    shares = [p["share"] for p in records[0]["profile"]]
    assert 1 <= len(shares) <= 6 and shares == sorted(shares, reverse=True) and sum(shares) <= 1
    # the build's time left at the file's rate, times the median ratio, on every record
    left = {r["build_left_here"] for r in records}
    assert len(left) == 1 and next(iter(left)) > 0
    table = (out / "truth_step.md").read_text()
    assert table.count("| tiny-set |") == 2 and "Machine:" in table
    assert "Where a step's time goes" in table
