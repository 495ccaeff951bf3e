"""The search loop: ask the strategy, evaluate on the executor, record in the study, tell.

Resuming is the same call on the same study: trials cut off by a crash are re-run, finished ones
are neither lost nor repeated, and the strategy is rebuilt by replaying the study's recorded
asks and tells in order (strategies are deterministic given their seed and that history, so
with one worker a resumed search proposes exactly what an uninterrupted one would have).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gtnas.errors import GtnasError
from gtnas.search.executor import EvaluationResult, EvaluationTask, Executor
from gtnas.search.proxies.population import (
    finite_parts,
    is_set_proxy,
    plain_proxies,
    population_scores,
    standings,
)
from gtnas.search.strategies import Strategy
from gtnas.search.study import Study, TrialRecord
from gtnas.spaces.base import SearchSpace

OnResult = Callable[[TrialRecord], None]
# A run of failed evaluations means something is wrong with the set-up, not the architectures.
MAX_FAILURES_IN_A_ROW = 5


@dataclass
class SearchProgress:
    evaluated: int  # finished evaluations (complete or failed) in the study
    proposals: int
    replay_mismatches: int  # replayed asks that differed from the record (should be 0)
    stopped_by_time: bool = False  # the search's time budget ran out


def run_search(
    study: Study,
    space: SearchSpace,
    strategy: Strategy,
    executor: Executor,
    *,
    budget: int,
    proxies: tuple[str, ...],
    seed: int,
    on_result: OnResult | None = None,
    stop_after: int | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> SearchProgress:
    """Evaluate until the study holds ``budget`` finished evaluations. ``proxies[0]`` is the
    score the strategy optimises; the others are recorded alongside. ``stop_after`` stops after
    that many new results (tests of interrupted runs); ``out_of_time()``, asked before each new
    evaluation, stops proposing when it says so (the evaluations under way finish).

    A set proxy (``rankavg:gtn:64+synflow``) is evaluated as its components; the value the
    strategy is told (and the study records) is the architecture's standing among those
    scored before it and itself (:func:`~gtnas.search.proxies.population.population_scores`),
    and :meth:`~gtnas.search.pipeline.SearchPipeline.top` ranks the whole population again."""
    keys = record_keys(space)
    cut = study.interrupt_running()
    seq, mismatches = _replay(study, space, strategy, proxies[0])
    genotypes: dict[int, Any] = {}  # in-flight trial -> genotype object
    completed = study.completed()
    scores: dict[str, float] = {r.genotype: r.score for r in completed}  # type: ignore[misc]
    # every completed evaluation's proxy scores, by genotype, in the order they came in
    population = {r.genotype: r.scores for r in completed}
    set_proxy = is_set_proxy(proxies[0])
    # A set proxy's standings move as the population grows: a repeat is told the standing now.
    if set_proxy:
        scores.update(standings(proxies[0], list(population.items())))
    in_flight: dict[str, int] = {}  # genotype string -> trial number
    evaluated_proxies = plain_proxies(proxies)

    def submit(genotype: Any, number: int) -> None:
        text = space.format(genotype)
        genotypes[number], in_flight[text] = genotype, number
        executor.submit(EvaluationTask(number, text, evaluated_proxies, seed))

    for record in cut:  # re-run what a crash cut off (the strategy already asked for these)
        genotype = parse_recorded(space, record.genotype)
        number = study.start_trial(
            record.genotype,
            space.to_decisions(genotype),
            keys,
            ask_seq=None,
            retry_of=record.number,
            started=time.time(),
        )
        submit(genotype, number)

    evaluated = sum(
        r.state in ("COMPLETE", "FAIL") and r.error != "interrupted" for r in study.records()
    )
    proposals, idle_proposals, new_results, failures_in_a_row = 0, 0, 0, 0
    stopped = False
    while True:
        while evaluated + executor.pending() < budget and executor.pending() < executor.workers:
            if out_of_time is not None and out_of_time():
                stopped = True
                break
            genotype = strategy.ask()
            seq += 1
            proposals += 1
            text = space.format(genotype)
            decisions = space.to_decisions(genotype)
            if text in scores or text in in_flight:
                # A repeat: cost nothing, tell the strategy what is known now (and record it, so
                # a replay tells the same).
                known = scores.get(text)
                number = study.record_duplicate(
                    text, decisions, keys, of=in_flight.get(text, -1), seq=seq, told=known
                )
                strategy.tell(genotype, known)
                idle_proposals += 1
                if idle_proposals > 50 * max(1, budget):
                    warnings.warn(
                        f"the strategy keeps proposing evaluated architectures; stopping at "
                        f"{evaluated} evaluations (is the space smaller than the budget?)",
                        stacklevel=2,
                    )
                    return SearchProgress(evaluated, proposals, mismatches)
                continue
            idle_proposals = 0
            number = study.start_trial(text, decisions, keys, ask_seq=seq, started=time.time())
            submit(genotype, number)
        if executor.pending() == 0:
            break
        for result in executor.wait():
            seq += 1
            record = _finish(study, result, proxies[0], population, seq)
            genotype = genotypes.pop(result.key)
            in_flight.pop(record.genotype, None)
            if record.state == "COMPLETE":
                scores[record.genotype] = record.score  # type: ignore[assignment]
                population[record.genotype] = record.scores
                failures_in_a_row = 0
            elif record.error is not None and not record.error.startswith("non-finite"):
                # an exception (a broken set-up), not an architecture with a non-finite score
                failures_in_a_row += 1
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    raise GtnasError(
                        f"{failures_in_a_row} evaluations in a row failed; the last: "
                        f"{record.error} (the study keeps every result; fix and resume it)"
                    )
            strategy.tell(genotype, record.score)
            if set_proxy and record.state == "COMPLETE":
                now = standings(proxies[0], list(population.items()))
                scores.update(now)
                strategy.restand(now)
            evaluated += 1
            new_results += 1
            if on_result is not None:
                on_result(record)
        if stop_after is not None and new_results >= stop_after:
            break
    return SearchProgress(evaluated, proposals, mismatches, stopped)


def record_keys(space: SearchSpace) -> list[str]:
    """The parameter names a trial records its genotype's decisions under."""
    return [d.name for d in space.decisions()]


def _finish(
    study: Study,
    result: EvaluationResult,
    proxy: str,
    population: dict[str, dict[str, float]],
    seq: int,
) -> TrialRecord:
    """Record one evaluation: complete with ``proxy``'s score (among ``population``, the
    completed evaluations before it, for a set proxy), or failed."""
    number = result.key
    error = result.error or finite_parts(proxy, result.scores)
    if error is not None:
        study.fail(number, error, tell_seq=seq)
        return TrialRecord(number, study.genotype_of(number), "FAIL", None, 0.0, error=error)
    if is_set_proxy(proxy):
        score = population_scores(proxy, [*population.values(), result.scores])[-1]
    else:
        score = float(result.scores[proxy])
    seconds = sum(result.seconds.values())
    study.complete(
        number,
        score,
        scores=result.scores,
        seconds=seconds,
        tell_seq=seq,
        finished=time.time(),
    )
    return TrialRecord(
        number, study.genotype_of(number), "COMPLETE", score, seconds, scores=dict(result.scores)
    )


def _replay(study: Study, space: SearchSpace, strategy: Strategy, proxy: str) -> tuple[int, int]:
    """Feed the recorded history back into a fresh strategy, re-telling a set ``proxy``'s
    standings after each result as the search did; returns (last seq, mismatches)."""
    seq, mismatches = 0, 0
    set_proxy = is_set_proxy(proxy)
    told: list[tuple[str, dict[str, float]]] = []
    for event_seq, kind, record in study.events():
        seq = event_seq
        genotype = parse_recorded(space, record.genotype)
        if kind == "ask":
            proposed = strategy.ask()
            if space.format(proposed) != record.genotype:
                mismatches += 1
        else:
            strategy.tell(genotype, record.told if record.state == "PRUNED" else record.score)
            if set_proxy and record.state == "COMPLETE":
                told.append((record.genotype, record.scores))
                strategy.restand(standings(proxy, told))
    if mismatches:
        warnings.warn(
            f"{mismatches} replayed proposals differ from the study's record (was the code or "
            "the strategy options changed?); continuing from the recorded results",
            stacklevel=2,
        )
    return seq, mismatches


def parse_recorded(space: SearchSpace, text: str) -> Any:
    """A recorded "<space>:<string>" back to a genotype of ``space``."""
    name, _, rest = text.partition(":")
    if name != space.name:
        raise ValueError(f"study records a {name} genotype, the search space is {space.name}")
    return space.parse(rest)
