"""The search-overhead benchmark end to end (`python -m benchmarks.search_overhead`), at a few
evaluations per storage."""

from __future__ import annotations

import json
import sqlite3

from benchmarks.search_overhead import storage_for


def test_every_storage_runs_the_same_search(tmp_path, run_benchmark, mnist) -> None:
    run_benchmark("search_overhead", ["--evaluations", "8", "--dataset", "mnist",
                                      "--out", str(tmp_path)])  # fmt: skip
    records = json.loads((tmp_path / "search_overhead.json").read_text())
    assert [r["storage"] for r in records] == ["gtnas", "optuna-default", "memory"]
    for record in records:
        assert record["evaluations"] == 8 and record["dataset"] == "mnist"
        assert 0 < record["proxy_seconds"] < record["seconds"]
        assert record["bookkeeping_ms_per_evaluation"] > 0
    # the same seeded random search whatever keeps it: the same proposals
    assert len({r["proposals"] for r in records}) == 1
    table = (tmp_path / "search_overhead.md").read_text()
    assert table.count("| 8 |") == 3 and "Machine:" in table


def test_the_storages_are_what_their_names_say(tmp_path) -> None:
    import optuna

    for kind, mode in (("gtnas", "wal"), ("optuna-default", "delete")):
        storage = storage_for(kind, tmp_path)
        optuna.create_study(storage=storage, study_name=kind)
        with sqlite3.connect(tmp_path / f"{kind}.db") as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == mode
    assert isinstance(storage_for("memory", tmp_path), optuna.storages.InMemoryStorage)
