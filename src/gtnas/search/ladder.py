"""Multi-fidelity search: a ladder of proxies from cheap to dear, climbed by the architectures
that keep doing well (successive halving, ASHA, Hyperband).

A ladder is a tuple of proxies, the rungs (e.g. ``("synflow", "gtn:32", "real:128",
"real:512")``); ``eta`` is the reduction factor. New architectures come from the search
strategy and start on the first rung (Hyperband's brackets start some on a higher one); an
architecture is *promoted* to the next rung when it is among the best 1/eta of its rung. The
schedulers differ in when they promote:

- ``sh`` (successive halving; Jamieson & Talwalkar 2016): rung by rung. All ``budget``
  architectures are scored on rung 0, then the best ``budget / eta`` on rung 1, and so on.
  Synchronous: a rung starts when the one below is complete.
- ``asha`` (asynchronous successive halving; Li et al. 2020): a free worker promotes the best
  architecture of the highest rung that has one in its top 1/eta not yet promoted, and
  otherwise scores a new one on rung 0 (until ``budget`` have been drawn). Workers never wait.
- ``hyperband`` (Li et al. 2018): several successive-halving brackets, from the most
  exploratory (``budget`` architectures from rung 0) to the most conservative (few, from the
  last rung), each with the same total cost, run one after another.

Every evaluation is one study trial (its ``rung``, ``proxy`` and, for Hyperband, ``bracket``
as user attributes; its value the rung's proxy score), so optuna-dashboard shows every rung's
results. The schedulers decide from the study's records alone, in the order their results
came in, so a search killed mid-rung and resumed (with one worker) promotes and evaluates
exactly what an uninterrupted one does: evaluations cut off are re-run first, the strategy is
replayed, and the next decision is the one the uninterrupted search took.

Why not Optuna's pruners: ``SuccessiveHalvingPruner`` (ASHA) and ``HyperbandPruner`` decide
per trial whether to stop a run that reports a learning curve, step by step, inside the trial.
Here a rung is another proxy, whose score is not comparable to the rung below, a promotion
can happen long after the architecture left a worker, and the synchronous variants must wait
for a whole rung; so the ladder keeps its own decisions and records each rung as a trial.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from gtnas.errors import ConfigError, GtnasError
from gtnas.registry import Registry
from gtnas.search.executor import EvaluationTask, Executor
from gtnas.search.proxies.population import (
    finite_parts,
    is_set_proxy,
    plain_proxies,
    population_scores,
    standings,
)
from gtnas.search.runner import (
    MAX_FAILURES_IN_A_ROW,
    OnResult,
    SearchProgress,
    parse_recorded,
    record_keys,
)
from gtnas.search.strategies import Strategy
from gtnas.search.study import Study, TrialRecord
from gtnas.spaces.base import SearchSpace

# -- what the schedulers see ------------------------------------------------------------------


@dataclass
class Entry:
    """One architecture's evaluation on one rung."""

    genotype: str
    rung: int
    bracket: int
    number: int  # the study trial (of the latest attempt)
    score: float | None = None  # None: in flight, or failed (then ``done``)
    done: bool = False
    order: int = 0  # the position of the scheduler's decision
    sampled: bool = False  # drawn from the strategy here (not promoted): the strategy hears it
    scores: dict[str, float] = field(default_factory=dict)  # every proxy the evaluation ran


@dataclass
class LadderState:
    """Every evaluation so far, in the order the scheduler asked for them. ``proxies``: each
    rung's proxy, where one may be a set proxy (its rung then ranked by the combination over
    the rung's finished evaluations); empty: the entries' scores rank them."""

    rungs: int
    entries: list[Entry] = field(default_factory=list)
    sampled: dict[int, int] = field(default_factory=dict)  # bracket -> new architectures drawn
    proxies: tuple[str, ...] = ()

    def on(self, rung: int, bracket: int = 0) -> list[Entry]:
        return [e for e in self.entries if e.rung == rung and e.bracket == bracket]

    def finished(self, rung: int, bracket: int = 0) -> list[Entry]:
        """Finished evaluations of a rung with a score, best first (ties: the one decided
        first, by its order, which a re-run after a crash keeps)."""
        done = [e for e in self.on(rung, bracket) if e.done and e.score is not None]
        values = self.standing(rung, done)
        ranked = sorted(zip(values, done, strict=True), key=lambda p: (-p[0], p[1].order))
        return [entry for _, entry in ranked]

    def standing(self, rung: int, entries: list[Entry]) -> list[float]:
        """The rung's proxy's score of each of ``entries`` (finished, with a score), among
        them: a set proxy's combination over them, a plain proxy's recorded score."""
        if self.proxies and is_set_proxy(self.proxies[rung]):
            return population_scores(self.proxies[rung], [e.scores for e in entries])
        return [float(e.score) for e in entries]  # type: ignore[arg-type]

    def scores_now(self) -> dict[str, float | None]:
        """Every architecture on the ladder -> its latest entry's score now (a set proxy's:
        its standing among its rung's finished evaluations today, not when it came in;
        ``None`` until it has one), what a repeated proposal of it is told."""
        values: dict[int, float] = {}  # entry's order -> its score now
        for rung, bracket in {(e.rung, e.bracket) for e in self.entries}:
            done = [e for e in self.on(rung, bracket) if e.done and e.score is not None]
            values.update(zip((e.order for e in done), self.standing(rung, done), strict=True))
        return {e.genotype: values.get(e.order, e.score) for e in self.entries}

    def reached(self, genotype: str, rung: int, bracket: int = 0) -> bool:
        return any(e.genotype == genotype for e in self.on(rung, bracket))

    def in_flight(self) -> int:
        return sum(not e.done for e in self.entries)


@dataclass(frozen=True)
class Decision:
    """``sample`` a new architecture onto ``rung``; ``promote`` ``genotype`` to ``rung``;
    ``wait`` for a result; ``done``."""

    kind: str
    rung: int = 0
    bracket: int = 0
    genotype: str | None = None


WAIT, DONE = Decision("wait"), Decision("done")


class Scheduler(ABC):
    name: ClassVar[str]

    def __init__(self, rungs: int, eta: int, budget: int) -> None:
        if rungs < 2 or eta < 2 or budget < 1:
            raise ConfigError(
                f"a ladder needs 2 or more rungs, eta >= 2 and a budget >= 1; got {rungs} "
                f"rungs, eta {eta}, budget {budget}"
            )
        self.rungs, self.eta, self.budget = rungs, eta, budget

    @abstractmethod
    def decide(self, state: LadderState) -> Decision: ...

    def brackets(self) -> list[tuple[int, int]]:
        """(first rung, architectures drawn) of each bracket, in order."""
        return [(0, self.budget)]

    def expected_evaluations(self) -> int:
        """Evaluations of a run without failures (successive halving's count in each bracket;
        ASHA's is about the same): a progress bar's total."""
        total = 0
        for first, count in self.brackets():
            kept = count
            for _ in range(first, self.rungs):
                total += kept
                kept = max(1, kept // self.eta)
        return total

    def _successive_halving(self, state: LadderState, bracket: int) -> Decision | None:
        """The next decision of one synchronous bracket, or None when it is complete."""
        first, count = self.brackets()[bracket]
        if state.sampled.get(bracket, 0) < count:
            return Decision("sample", first, bracket)
        for rung in range(first, self.rungs - 1):
            entries = state.on(rung, bracket)
            if any(not e.done for e in entries):
                return WAIT  # the rung is not complete yet
            keep = max(1, len(entries) // self.eta) if entries else 0
            best = state.finished(rung, bracket)[:keep]
            for entry in best:
                if not state.reached(entry.genotype, rung + 1, bracket):
                    return Decision("promote", rung + 1, bracket, entry.genotype)
        if any(not e.done for e in state.on(self.rungs - 1, bracket)):
            return WAIT
        return None


SCHEDULERS: Registry[type[Scheduler]] = Registry("scheduler")


@SCHEDULERS.register("sh", help="successive halving: rung by rung, the best 1/eta climb")
class SuccessiveHalving(Scheduler):
    name = "sh"

    def decide(self, state: LadderState) -> Decision:
        return self._successive_halving(state, 0) or DONE


@SCHEDULERS.register("asha", help="asynchronous successive halving: workers never wait")
class AsynchronousSuccessiveHalving(Scheduler):
    name = "asha"

    def decide(self, state: LadderState) -> Decision:
        for rung in reversed(range(self.rungs - 1)):
            finished = state.finished(rung)
            for entry in finished[: len(finished) // self.eta]:
                if not state.reached(entry.genotype, rung + 1):
                    return Decision("promote", rung + 1, 0, entry.genotype)
        if state.sampled.get(0, 0) < self.budget:
            return Decision("sample", 0, 0)
        return WAIT if state.in_flight() else DONE


@SCHEDULERS.register("hyperband", help="brackets of successive halving, exploratory to sure")
class Hyperband(Scheduler):
    name = "hyperband"

    def brackets(self) -> list[tuple[int, int]]:
        """Bracket s = s_max .. 0 starts n_s architectures on rung s_max - s, with
        n_s = ceil(budget * (s_max + 1) / ((s + 1) * eta^(s_max - s))): the standard
        Hyperband counts scaled so the most exploratory bracket draws ``budget``."""
        top = self.rungs - 1
        return [
            (
                top - s,
                max(1, math.ceil(self.budget * (top + 1) / ((s + 1) * self.eta ** (top - s)))),
            )
            for s in range(top, -1, -1)
        ]

    def decide(self, state: LadderState) -> Decision:
        for bracket in range(len(self.brackets())):
            decision = self._successive_halving(state, bracket)
            if decision is not None:
                return decision
        return DONE


def create_scheduler(name: str, rungs: int, eta: int, budget: int) -> Scheduler:
    return SCHEDULERS.get(name)(rungs, eta, budget)


# -- the loop ---------------------------------------------------------------------------------


def run_ladder(
    study: Study,
    space: SearchSpace,
    strategy: Strategy,
    executor: Executor,
    scheduler: Scheduler,
    rungs: tuple[str, ...],
    *,
    seed: int,
    extra_proxies: tuple[str, ...] = (),
    on_result: OnResult | None = None,
    stop_after: int | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> SearchProgress:
    """Climb the ladder until the scheduler is done (or ``out_of_time()``, asked before each
    new evaluation, says so; or after ``stop_after`` new results: tests of interrupted runs).

    Trial attributes: ``rung``, ``proxy``, ``bracket``, ``order`` (the position of the
    scheduler's decision, which a re-run of a cut-off evaluation keeps) and ``sampled`` (a new
    architecture drawn from the strategy, whose first rung's score the strategy is told).
    ``extra_proxies`` are scored beside a newly drawn architecture's first rung (for
    analysis: the report's proxies against final accuracy).

    A rung's proxy may be a set proxy (``rankavg:gtn:64+synflow``): the evaluation runs its
    components, the value recorded is the architecture's standing among the rung's finished
    evaluations and itself, and promotions rank the rung anew each time; the strategy is
    re-told the standings of the rung's architectures after each of its results
    (:meth:`~gtnas.search.strategies.Strategy.restand`). The architectures it drew are the
    only ones on their first rung (promotions go higher), so a replay rebuilds those
    populations from its tells alone."""
    keys = record_keys(space)
    study.interrupt_running()
    state, seq = _restore(study, space, strategy, len(rungs))
    state.proxies = tuple(rungs)
    queued: dict[int, Entry] = {}  # trial -> entry, submitted to the executor

    def start(entry: Entry, ask_seq: int | None, retry_of: int | None) -> None:
        genotype = parse_recorded(space, entry.genotype)
        entry.number = study.start_trial(
            entry.genotype, space.to_decisions(genotype), keys, ask_seq=ask_seq,
            retry_of=retry_of, started=time.time(),
            attrs={"rung": entry.rung, "proxy": rungs[entry.rung], "bracket": entry.bracket,
                   "order": entry.order, "sampled": entry.sampled},
        )  # fmt: skip
        queued[entry.number] = entry
        proxies = (rungs[entry.rung],)
        if entry.sampled:
            proxies += tuple(p for p in extra_proxies if p != rungs[entry.rung])
        executor.submit(EvaluationTask(entry.number, entry.genotype, plain_proxies(proxies), seed))

    for entry in state.entries:  # evaluations cut off by a crash: run them again, in place
        if not entry.done:
            start(entry, None, entry.number)

    new_results, failures_in_a_row, stopped, proposals = 0, 0, False, 0
    while True:
        while executor.pending() < executor.workers:
            if out_of_time is not None and out_of_time():
                stopped = True
                break
            decision = scheduler.decide(state)
            if decision.kind in ("wait", "done"):
                break
            ask_seq = None
            if decision.kind == "sample":
                text, seq = _draw(study, space, strategy, state, keys, seq)
                ask_seq = seq
                proposals += 1
                state.sampled[decision.bracket] = state.sampled.get(decision.bracket, 0) + 1
            else:
                assert decision.genotype is not None
                text = decision.genotype
            entry = Entry(text, decision.rung, decision.bracket, -1, order=len(state.entries),
                          sampled=decision.kind == "sample")  # fmt: skip
            state.entries.append(entry)
            start(entry, ask_seq, None)
        if executor.pending() == 0:
            break
        for result in executor.wait():
            entry = queued.pop(result.key)
            proxy = rungs[entry.rung]
            error = result.error or finite_parts(proxy, result.scores)
            entry.done = True
            # the strategy hears about the architectures it proposed (their first rung)
            tells = entry.sampled
            tell_seq = None
            if tells:
                seq += 1
                tell_seq = seq
            if error is not None:
                study.fail(entry.number, error, tell_seq=tell_seq)
                record = TrialRecord(entry.number, entry.genotype, "FAIL", None, 0.0,
                                     error=error, rung=entry.rung, proxy=proxy)  # fmt: skip
                if result.error is not None and not error.startswith("non-finite"):
                    failures_in_a_row += 1
                    if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                        raise GtnasError(
                            f"{failures_in_a_row} evaluations in a row failed; the last: "
                            f"{error} (the study keeps every result; fix and resume it)"
                        )
            else:
                entry.scores = dict(result.scores)
                entry.score = _score(state, entry)
                failures_in_a_row = 0
                seconds = sum(result.seconds.values())
                study.complete(entry.number, entry.score, scores=result.scores, seconds=seconds,
                               tell_seq=tell_seq, finished=time.time())  # fmt: skip
                record = TrialRecord(entry.number, entry.genotype, "COMPLETE", entry.score,
                                     seconds, scores=dict(result.scores), rung=entry.rung,
                                     proxy=proxy)  # fmt: skip
            if tells:
                strategy.tell(parse_recorded(space, entry.genotype), entry.score)
                if entry.score is not None and is_set_proxy(proxy):
                    done = [e for e in state.on(entry.rung, entry.bracket)
                            if e.done and e.score is not None]  # fmt: skip
                    strategy.restand(standings(proxy, [(e.genotype, e.scores) for e in done]))
            new_results += 1
            if on_result is not None:
                on_result(record)
        if stopped or (stop_after is not None and new_results >= stop_after):
            break
    evaluations = sum(r.state in ("COMPLETE", "FAIL") and r.error != "interrupted"
                      for r in study.records())  # fmt: skip
    return SearchProgress(evaluations, proposals, 0, stopped)


def _score(state: LadderState, entry: Entry) -> float:
    """What a finished evaluation records: its rung's proxy's score, for a set proxy its
    standing among the rung's (and bracket's) finished evaluations and itself."""
    proxy = state.proxies[entry.rung]
    if not is_set_proxy(proxy):
        return float(entry.scores[proxy])
    finished = [e for e in state.on(entry.rung, entry.bracket) if e.done and e.score is not None]
    return population_scores(proxy, [*(e.scores for e in finished), entry.scores])[-1]


def _draw(
    study: Study,
    space: SearchSpace,
    strategy: Strategy,
    state: LadderState,
    keys: list[str],
    seq: int,
) -> tuple[str, int]:
    """A new architecture from the strategy; a repeat of one already on the ladder is recorded
    as a duplicate (as the plain search does) and the strategy told its known score."""
    known = state.scores_now()
    for _ in range(10_000):
        genotype = strategy.ask()
        seq += 1
        text = space.format(genotype)
        if text not in known:
            return text, seq
        study.record_duplicate(text, space.to_decisions(genotype), keys, of=-1, seq=seq,
                               told=known[text])  # fmt: skip
        strategy.tell(genotype, known[text])
    raise GtnasError("the strategy keeps proposing architectures already on the ladder")


def _restore(
    study: Study, space: SearchSpace, strategy: Strategy, rungs: int
) -> tuple[LadderState, int]:
    """The ladder's state from the study's records (one entry per decision, its latest
    attempt), and the strategy replayed through its recorded asks and tells in order."""
    state = LadderState(rungs)
    latest: dict[int, TrialRecord] = {}
    for record in sorted(study.records(), key=lambda r: r.number):
        if record.order is not None and record.state != "PRUNED":
            latest[record.order] = record
    for order in sorted(latest):
        record = latest[order]
        interrupted = record.error == "interrupted" or record.state == "RUNNING"
        entry = Entry(record.genotype, int(record.rung or 0), int(record.bracket or 0),
                      record.number, record.score, done=not interrupted, order=order,
                      sampled=bool(record.sampled), scores=dict(record.scores))  # fmt: skip
        state.entries.append(entry)
        if record.sampled:
            state.sampled[entry.bracket] = state.sampled.get(entry.bracket, 0) + 1
    seq = 0
    drawn: dict[tuple[int, int], list[tuple[str, dict[str, float]]]] = {}  # (rung, bracket)
    for event_seq, kind, record in study.events():
        seq = event_seq
        if kind == "ask":
            strategy.ask()
        else:
            told = record.told if record.state == "PRUNED" else record.score
            strategy.tell(parse_recorded(space, record.genotype), told)
            if record.state == "COMPLETE" and record.proxy and is_set_proxy(record.proxy):
                group = drawn.setdefault((int(record.rung or 0), int(record.bracket or 0)), [])
                group.append((record.genotype, record.scores))
                strategy.restand(standings(record.proxy, group))
    return state, seq
