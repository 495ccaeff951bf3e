"""Persistent, resumable studies: the search loop against an Optuna SQLite store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gtnas.spaces.nb201  # noqa: F401 - registers nb201
from gtnas.search.executor import ContextSpec, InlineExecutor
from gtnas.search.runner import run_search
from gtnas.search.strategies import create_strategy
from gtnas.search.study import Study, sqlite_path, storage_missing
from gtnas.spaces import create_space

SPEC = ContextSpec(
    dataset="mnist",
    space="nb201",
    space_options={},
    blueprint="tiny",
    train_subset=256,
    eval_examples=200,
)


def _search(
    storage: str,
    name: str,
    budget: int,
    strategy: str = "evolution",
    proxies: tuple[str, ...] = ("params", "synflow"),
    **kw,
):
    space = create_space("nb201")
    study = Study.open(
        name,
        storage,
        config={"space": "nb201", "strategy": strategy, "seed": 0},
        decision_sizes={d.name: len(d) for d in space.decisions()},
    )
    options = {"population": 4, "sample_size": 2} if strategy == "evolution" else {}
    progress = run_search(
        study,
        space,
        create_strategy(strategy, space, 0, options),
        InlineExecutor(SPEC),
        budget=budget,
        proxies=proxies,
        seed=0,
        **kw,
    )
    return study, progress


def _evaluated(study: Study) -> list[str]:
    return sorted(r.genotype for r in study.completed())


def test_sqlite_urls_name_their_file_and_nothing_to_read_is_told(tmp_path: Path) -> None:
    db = tmp_path / "studies.db"
    assert sqlite_path(f"sqlite:///{db}") == str(db)
    # URLs with query options and other databases name no file to check
    for url in (f"sqlite:///{db}?timeout=5", "postgresql://h/db"):
        assert sqlite_path(url) is None and not storage_missing(url)
    # an in-memory database has nothing to read, like a file that is not there
    for url in ("sqlite:///:memory:", "sqlite://", f"sqlite:///{db}"):
        assert storage_missing(url)
    assert sqlite_path("sqlite:///:memory:") is None
    db.touch()
    assert not storage_missing(f"sqlite:///{db}")


def test_search_records_every_evaluation_in_the_store(tmp_path: Path, mnist) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    study, progress = _search(storage, "s", budget=10)
    completed = study.completed()
    assert progress.evaluated == 10 and len(completed) == 10
    assert len(set(_evaluated(study))) == 10  # no duplicates evaluated
    for record in completed:
        assert record.score == record.scores["params"] > 0
        assert "synflow" in record.scores and record.seconds >= 0
        assert record.genotype.startswith("nb201:|")
    # another process (here: a fresh handle) sees the same records
    again = Study.open("s", storage, config=None, decision_sizes={})
    assert _evaluated(again) == _evaluated(study)


def test_trials_written_in_one_go_read_back_through_plain_optuna(tmp_path: Path, mnist) -> None:
    """Trials are written straight to the storage (one transaction each, not Optuna's ask):
    what optuna-dashboard reads must still be a normal study, and the SQLite file in
    write-ahead-log mode."""
    import sqlite3

    import optuna

    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    study, _ = _search(storage, "s", budget=6, strategy="random")
    space = create_space("nb201")
    first = study.completed()[0]  # and a repeated proposal of it, as the search records one
    decisions = space.to_decisions(space.parse(first.genotype.split(":", 1)[1]))
    study.record_duplicate(first.genotype, decisions, _keys(space), of=first.number, seq=99,
                           told=first.score)  # fmt: skip
    records = {r.number: r for r in study.records()}
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert len(trials) == len(records) == 7
    assert any(r.state == "PRUNED" for r in records.values())
    for trial in trials:
        record = records[trial.number]
        genotype = space.parse(record.genotype.split(":", 1)[1])
        assert [trial.params[k] for k in _keys(space)] == space.to_decisions(genotype)
        assert trial.user_attrs["genotype"] == record.genotype
        assert trial.user_attrs["ask_seq"] == record.ask_seq
        assert trial.state.name == record.state
        assert trial.datetime_start is not None and trial.datetime_complete is not None
        if record.state == "COMPLETE":
            assert trial.value == record.score == record.scores["params"]
            assert trial.user_attrs["tell_seq"] > record.ask_seq
        else:  # a repeated proposal: recorded as pruned, never evaluated
            assert record.state == "PRUNED" and record.duplicate_of == first.number
            assert trial.user_attrs["told"] == first.score and trial.value is None
    with sqlite3.connect(tmp_path / "studies.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _keys(space) -> list[str]:
    return [d.name for d in space.decisions()]


def test_stopped_and_resumed_search_matches_an_uninterrupted_one(tmp_path: Path, mnist) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    whole, _ = _search(storage, "whole", budget=12)
    _search(storage, "parts", budget=12, stop_after=5)
    parts, progress = _search(storage, "parts", budget=12)
    assert progress.replay_mismatches == 0
    assert _evaluated(parts) == _evaluated(whole)


def test_resuming_with_a_different_strategy_is_refused(tmp_path: Path, mnist) -> None:
    from gtnas.errors import ConfigError

    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _search(storage, "s", budget=2)
    with pytest.raises(ConfigError, match="strategy='evolution', not 'random'"):
        _search(storage, "s", budget=4, strategy="random")


KILLER = """
import os, signal, sys
from pathlib import Path

import test_search_study as t
from gtnas.search.proxies import PROXIES, ParamsProxy

counter = Path(sys.argv[2])


@PROXIES.register("params-or-die")
class Dying(ParamsProxy):
    name = "params-or-die"

    def _score(self, genotype, context, seed):
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        if n + 1 == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # a crash in the middle of an evaluation
        return super()._score(genotype, context, seed)


t._search(sys.argv[1], "killed", budget=12, proxies=("params-or-die", "synflow"))
"""


def test_sigkilled_search_resumes_without_losing_or_repeating_work(tmp_path: Path, mnist) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    whole, _ = _search(storage, "whole", budget=12)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    # The kill hits evaluation 6 after 5 finished ones: that trial is left RUNNING in the store.
    command = [sys.executable, str(script), storage, str(tmp_path / "count"), "6"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(command, env=env, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    space = create_space("nb201")
    crashed = Study.open("killed", storage, config=None, decision_sizes={})
    states = [r.state for r in crashed.records()]
    assert states.count("COMPLETE") == 5 and states.count("RUNNING") == 1
    # resume in this process with the ordinary proxy: the cut-off evaluation is re-run
    resumed, progress = _search(storage, "killed", budget=12)
    assert progress.replay_mismatches == 0
    assert _evaluated(resumed) == _evaluated(whole)
    records = resumed.records()
    assert sum(r.error == "interrupted" for r in records) == 1
    assert sum(r.retry_of is not None for r in records) == 1
    assert len(space.decisions()) == 6
