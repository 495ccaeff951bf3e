"""The strategy-overhead benchmark end to end (`python -m benchmarks.strategy_overhead`), at a
few dozen asks."""

from __future__ import annotations

import json


def test_tpe_checks_its_split_and_builds_fewer_studies(tmp_path, run_benchmark) -> None:
    run_benchmark("strategy_overhead", ["--asks", "60", "--strategies", "random,tpe",
                                        "--out", str(tmp_path)])  # fmt: skip
    records = json.loads((tmp_path / "strategy_overhead.json").read_text())
    by = {(r["strategy"], r["variant"]): r for r in records}
    assert set(by) == {("random", "-"), ("tpe", "checked-split"), ("tpe", "rebuild-every-ask")}
    for record in records:
        assert record["asks"] == 60 and 0 < record["distinct"] <= 60 and record["seconds"] > 0
    assert by[("random", "-")]["studies_built"] is None
    # TPE's first 10 proposals are random (no split yet to keep): the rebuilding variant
    # builds a study at nearly every later ask, the checking one at far fewer
    assert by[("tpe", "rebuild-every-ask")]["studies_built"] >= 40
    assert (
        by[("tpe", "checked-split")]["studies_built"]
        < by[("tpe", "rebuild-every-ask")]["studies_built"] / 2
    )
    table = (tmp_path / "strategy_overhead.md").read_text()
    assert table.count("| tpe |") == 2 and "Machine:" in table
