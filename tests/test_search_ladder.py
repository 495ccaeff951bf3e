"""Multi-fidelity search: the schedulers' decisions by hand and on a synthetic objective, exact
resume mid-rung, and the time budget."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from gtnas.search.executor import ContextSpec, InlineExecutor
from gtnas.search.ladder import (
    Entry,
    LadderState,
    create_scheduler,
    run_ladder,
)
from gtnas.search.proxies import PROXIES, Proxy
from gtnas.search.strategies import create_strategy
from gtnas.search.study import Study, default_storage
from gtnas.spaces import create_space


def quality(text: str) -> float:
    """A synthetic 'true accuracy' of a genotype in [0, 1)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class ToyRung(Proxy):
    """``toy:K``: the quality plus noise that shrinks with K (higher rungs are truer)."""

    delay = 0.0  # seconds each evaluation takes (the time-budget test sets it)

    def __init__(self, steps: int | None = None) -> None:
        self.steps = steps or 1
        self.name = f"toy:{self.steps}"

    def _score(self, genotype: Any, context: Any, seed: int) -> tuple[float, dict]:
        time.sleep(self.delay)
        text = context.space.format(genotype)
        return quality(text) + (quality(text + str(self.steps)) - 0.5) / self.steps, {}


@pytest.fixture
def toy_proxy():
    PROXIES.register("toy")(ToyRung)
    yield ToyRung
    del PROXIES._entries["toy"], PROXIES._help["toy"]
    ToyRung.delay = 0.0


def _feed(scheduler, state: LadderState, score) -> list[tuple[str, int]]:
    """Run a scheduler to the end in one process, scoring synchronously: [(genotype, rung)]."""
    order = []
    drawn = 0
    while True:
        decision = scheduler.decide(state)
        if decision.kind == "done":
            return order
        assert decision.kind in ("sample", "promote"), decision
        if decision.kind == "sample":
            genotype = f"g{drawn}"
            drawn += 1
            state.sampled[decision.bracket] = state.sampled.get(decision.bracket, 0) + 1
        else:
            genotype = decision.genotype
        index = len(state.entries)
        value = score(genotype, decision.rung)
        entry = Entry(genotype, decision.rung, decision.bracket, index, value, True, index)
        state.entries.append(entry)
        order.append((genotype, decision.rung))


def test_successive_halving_keeps_the_top_third_at_each_rung() -> None:
    scheduler = create_scheduler("sh", rungs=3, eta=3, budget=27)
    state = LadderState(3)
    order = _feed(scheduler, state, lambda g, r: quality(f"{g}/{r}"))
    by_rung = {r: [g for g, x in order if x == r] for r in range(3)}
    assert [len(by_rung[r]) for r in range(3)] == [27, 9, 3]
    for rung in (0, 1):  # the promoted are exactly the best third of the rung below
        scores = sorted(by_rung[rung], key=lambda g: -quality(f"{g}/{rung}"))
        assert set(by_rung[rung + 1]) == set(scores[: len(scores) // 3])
    # synchronous: no promotion before its rung is complete
    assert [r for _, r in order] == [0] * 27 + [1] * 9 + [2] * 3


def test_asha_promotes_as_soon_as_an_architecture_is_in_the_top_third() -> None:
    scheduler = create_scheduler("asha", rungs=3, eta=3, budget=9)
    state = LadderState(3)
    order = _feed(scheduler, state, lambda g, r: {"g0": 0.9, "g1": 0.1}.get(g, 0.5))
    rungs = [r for _, r in order]
    # g0 (the best) is promoted after 3 results at rung 0, before the 4th draw
    assert order[:4] == [("g0", 0), ("g1", 0), ("g2", 0), ("g0", 1)]
    assert rungs.count(0) == 9 and sum(1 for r in rungs if r > 0) >= 3


def test_hyperband_brackets_are_the_standard_counts() -> None:
    scheduler = create_scheduler("hyperband", rungs=4, eta=3, budget=27)
    assert scheduler.brackets() == [(0, 27), (1, 12), (2, 6), (3, 4)]
    state = LadderState(4)
    order = _feed(scheduler, state, lambda g, r: quality(f"{g}/{r}"))
    first_rungs = {}
    for entry in state.entries:
        first_rungs.setdefault(entry.bracket, set()).add(entry.rung)
    assert min(first_rungs[1]) == 1 and first_rungs[3] == {3}
    assert len(order) == 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6 + 2 + 4


def _ladder_run(tmp_path: Path, name: str, scheduler: str, *, stop_after=None, budget=12,
                out_of_time=None, storage=None, rungs=("toy:1", "toy:4", "toy:16"),
                strategy="random", options=None):  # fmt: skip
    space = create_space("nb201")
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = storage or default_storage(tmp_path)
    sizes = {d.name: len(d) for d in space.decisions()}
    study = Study.open(name, storage, config={"kind": "test"}, decision_sizes=sizes)
    drawing = create_strategy(strategy, space, 0, options)
    spec = ContextSpec(dataset="mnist", space="nb201", space_options={}, blueprint="tiny")
    with InlineExecutor(spec) as executor:
        progress = run_ladder(study, space, drawing, executor,
                              create_scheduler(scheduler, 3, 3, budget),
                              rungs, seed=0, stop_after=stop_after,
                              out_of_time=out_of_time)  # fmt: skip
    return study, progress


def _trace(study: Study) -> list[tuple[str, int, str, float | None]]:
    return [(r.genotype, r.rung, r.state, r.score)
            for r in sorted(study.records(), key=lambda r: r.number)
            if r.rung is not None and r.error != "interrupted"]  # fmt: skip


@pytest.mark.parametrize("scheduler", ["sh", "asha", "hyperband"])
def test_a_ladder_killed_mid_rung_resumes_exactly(tmp_path: Path, toy_proxy, mnist,
                                                   scheduler: str) -> None:  # fmt: skip
    whole, _ = _ladder_run(tmp_path / "whole", "whole", scheduler)
    (tmp_path / "cut").mkdir()
    storage = default_storage(tmp_path / "cut")
    for stop in (5, 4, 7):  # three sessions, each stopping mid-rung
        _ladder_run(tmp_path / "cut", "cut", scheduler, stop_after=stop, storage=storage)
    resumed, _ = _ladder_run(tmp_path / "cut", "cut", scheduler, storage=storage)
    assert _trace(resumed) == _trace(whole)
    rungs = [r for _, r, _, _ in _trace(whole)]
    assert max(rungs) == 2  # the ladder was climbed to the top
    for record in whole.records():  # what optuna-dashboard shows: each rung a trial
        if record.rung is not None:
            assert record.proxy == ("toy:1", "toy:4", "toy:16")[record.rung]


@pytest.mark.parametrize("scheduler", ["sh", "asha"])
def test_a_rank_average_rung_killed_mid_rung_resumes_exactly(tmp_path: Path, toy_proxy, mnist,
                                                             scheduler: str) -> None:  # fmt: skip
    """A set proxy on the first rung: its standings, and so its promotions, are those of an
    uninterrupted search after a resume."""
    rungs = ("rankavg:toy:1+toy:2", "toy:4", "toy:16")
    whole, _ = _ladder_run(tmp_path / "whole", "whole", scheduler, rungs=rungs)
    (tmp_path / "cut").mkdir()
    storage = default_storage(tmp_path / "cut")
    for stop in (5, 4, 7):
        _ladder_run(tmp_path / "cut", "cut", scheduler, stop_after=stop, storage=storage,
                    rungs=rungs)  # fmt: skip
    resumed, _ = _ladder_run(tmp_path / "cut", "cut", scheduler, storage=storage, rungs=rungs)
    assert _trace(resumed) == _trace(whole)
    first = [r for r in whole.records() if r.rung == 0 and r.state == "COMPLETE"]
    assert all({"toy:1", "toy:2"} <= r.scores.keys() and 0 < r.score <= 1 for r in first)
    assert max(r for _, r, _, _ in _trace(whole)) == 2


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("evolution", {"population": 4, "sample_size": 2}), ("tpe", {"startup_trials": 4})],
)
def test_a_strategy_on_a_rank_average_rung_resumes_exactly(
    tmp_path: Path, toy_proxy, mnist, strategy: str, options: dict
) -> None:
    """A strategy that learns from the first rung's standings is re-told them as the rung
    grows; a resumed ladder replays those re-tellings and proposes what an uninterrupted one
    does."""
    rungs = ("rankavg:toy:1+toy:2", "toy:4", "toy:16")
    run = dict(rungs=rungs, strategy=strategy, options=options, budget=18)
    whole, _ = _ladder_run(tmp_path / "whole", "whole", "asha", **run)
    (tmp_path / "cut").mkdir()
    storage = default_storage(tmp_path / "cut")
    for stop in (5, 4, 7):
        _ladder_run(tmp_path / "cut", "cut", "asha", stop_after=stop, storage=storage, **run)
    resumed, _ = _ladder_run(tmp_path / "cut", "cut", "asha", storage=storage, **run)
    assert _trace(resumed) == _trace(whole)


def test_a_repeated_proposal_is_told_its_standing_now() -> None:
    """On a set-proxy rung an architecture's recorded score is its standing when it came in;
    a repeat of it is told its standing among the rung's finished evaluations now (a plain
    rung: its score; a promoted architecture: its highest rung's)."""
    state = LadderState(2, proxies=("rankavg:params+synflow", "real:4"))
    scores = [{"params": 1.0, "synflow": 1.0}, {"params": 2.0, "synflow": 3.0},
              {"params": 3.0, "synflow": 2.0}]  # fmt: skip
    for i, (told, values) in enumerate(zip([1.0, 1.0, 2 / 3], scores, strict=True)):
        state.entries.append(Entry(f"g{i}", 0, 0, i, told, True, i, scores=values))
    state.entries.append(Entry("g1", 1, 0, 3, 0.9, True, 3, scores={"real:4": 0.9}))
    state.entries.append(Entry("g3", 0, 0, 4, None, False, 4))  # in flight
    # ranks among the three: g0 (1, 1), g1 (2, 3), g2 (3, 2); mean rank / 3
    now = state.scores_now()
    assert now.pop("g3") is None
    assert now == pytest.approx({"g0": 1 / 3, "g1": 0.9, "g2": 2.5 / 3})


def test_an_interrupted_evaluation_is_run_again_in_its_place(tmp_path: Path, toy_proxy,
                                                            mnist) -> None:  # fmt: skip
    whole, _ = _ladder_run(tmp_path / "whole", "whole", "sh")
    (tmp_path / "cut").mkdir()
    storage = default_storage(tmp_path / "cut")
    study, _ = _ladder_run(tmp_path / "cut", "cut", "sh", stop_after=3, storage=storage)
    # a crash while an evaluation was under way: a trial left RUNNING
    space = create_space("nb201")
    keys = [d.name for d in space.decisions()]
    text = "nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    study.start_trial(text, [0] * 6, keys, ask_seq=None,
                      attrs={"rung": 0, "proxy": "toy:1", "bracket": 0, "order": 999})  # fmt: skip
    resumed, _ = _ladder_run(tmp_path / "cut", "cut", "sh", storage=storage)
    assert [t for t in _trace(resumed) if t[0] != text] == _trace(whole)


def test_the_time_budget_stops_within_one_evaluation(tmp_path: Path, toy_proxy, mnist) -> None:
    # The count of evaluations that fit in the limit is not asserted from below: on a loaded
    # machine the study's bookkeeping alone can take most of a second ("at least 3" failed
    # there once with 2), and speed belongs in benchmarks, not in tests.
    ToyRung.delay = 0.15
    limit = 1.0
    # The clock starts at the ladder's first question, not before opening the study and the
    # data: on a slow machine that set-up alone once took the whole second (0 evaluations).
    started: list[float] = []

    def out_of_time() -> bool:
        if not started:
            started.append(time.monotonic())
        return time.monotonic() - started[0] >= limit

    study, progress = _ladder_run(tmp_path, "timed", "asha", budget=1000, out_of_time=out_of_time)
    spent = time.monotonic() - started[0]
    assert progress.stopped_by_time
    # at most the evaluation in flight when the limit passed (and a loaded machine's overhead)
    assert limit <= spent <= limit + ToyRung.delay + 1.0
    assert 1 <= len(study.completed()) <= limit / ToyRung.delay + 1
