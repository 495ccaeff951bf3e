"""Strategies against a cheap synthetic objective over genotypes (no training involved)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from gtnas.search.strategies import STRATEGIES, Strategy, create_strategy
from gtnas.seeding import make_generator
from gtnas.spaces import create_space


class GreedyWorst(Strategy):
    """Deliberately bad: keeps mutating the worst architecture it has seen."""

    name = "greedy-worst"
    Config = dict

    def __init__(self, space: Any, seed: int) -> None:
        super().__init__(space, seed, {})
        self.worst: tuple[Any, float] | None = None

    def ask(self) -> Any:
        if self.worst is None:
            return self.space.sample(self.generator)
        return self.space.mutate(self.worst[0], self.generator)

    def tell(self, genotype: Any, score: float | None) -> None:
        if score is not None and (self.worst is None or score < self.worst[1]):
            self.worst = (genotype, score)


def _best_found(strategy: Strategy, objective: Any, budget: int) -> float:
    best = float("-inf")
    for _ in range(budget):
        genotype = strategy.ask()
        score = objective(genotype)
        strategy.tell(genotype, score)
        best = max(best, score)
    return best


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_each_strategy_beats_a_deliberately_bad_one(name: str) -> None:
    space = create_space("gtn-cell")
    target = space.to_decisions(space.sample(make_generator(123)))

    def objective(genotype: Any) -> float:  # fraction of decisions matching a hidden target
        decisions = space.to_decisions(genotype)
        return sum(a == b for a, b in zip(decisions, target, strict=True)) / len(target)

    good = [_best_found(create_strategy(name, space, seed), objective, 80) for seed in (0, 1)]
    bad = [_best_found(GreedyWorst(space, seed), objective, 80) for seed in (0, 1)]
    assert statistics.mean(good) > statistics.mean(bad) + 0.05, (good, bad)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_strategies_are_deterministic_for_a_seed(name: str) -> None:
    space = create_space("nb201")

    def run(seed: int) -> list[str]:
        strategy = create_strategy(name, space, seed)
        out = []
        for _ in range(25):
            genotype = strategy.ask()
            strategy.tell(genotype, float(sum(space.to_decisions(genotype))))
            out.append(space.format(genotype))
        return out

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_model_based_strategies_beat_random_on_a_large_space() -> None:
    # Not required of a strategy in general, but on this smooth objective evolution, TPE and
    # REINFORCE must find better architectures than uniform sampling at the same budget.
    space = create_space("gtn-cell")
    target = space.to_decisions(space.sample(make_generator(7)))

    def objective(genotype: Any) -> float:
        decisions = space.to_decisions(genotype)
        return sum(a == b for a, b in zip(decisions, target, strict=True)) / len(target)

    def mean_best(name: str) -> float:
        return statistics.mean(
            _best_found(create_strategy(name, space, seed), objective, 120) for seed in (0, 1)
        )

    random_best = mean_best("random")
    for name in ("evolution", "reinforce"):
        assert mean_best(name) > random_best, name


def test_evolution_population_ages_out_the_oldest() -> None:
    space = create_space("nb201")
    strategy = create_strategy("evolution", space, 0, {"population": 3, "sample_size": 2})
    genotypes = [strategy.ask() for _ in range(4)]
    for score, genotype in enumerate(genotypes):
        strategy.tell(genotype, [9.0, 1.0, 2.0, 3.0][score])
    # the best (first, score 9) is the oldest and died: aging, not truncation
    assert [s for _, s in strategy.population] == [1.0, 2.0, 3.0]


def test_unknown_strategy_and_bad_options_are_named() -> None:
    from gtnas.errors import ConfigError

    space = create_space("nb201")
    with pytest.raises(ConfigError, match="unknown search strategy 'annealing'"):
        create_strategy("annealing", space, 0)
    with pytest.raises(ConfigError, match=r"evolution\.populaton"):
        create_strategy("evolution", space, 0, {"populaton": 5})


def _distance(space, a, b) -> int:
    return sum(x != y for x, y in zip(space.to_decisions(a), space.to_decisions(b), strict=True))


def test_evolution_holds_tournaments_on_the_standings_now() -> None:
    """A set proxy's standing moves as the population grows: the tournament compares the
    members' scores as re-told, not as first told."""
    space = create_space("nb201")
    strategy = create_strategy("evolution", space, 0, {"population": 2, "sample_size": 2})
    first, second = strategy.ask(), strategy.ask()
    assert _distance(space, first, second) >= 3  # a child of one is told apart from the other
    strategy.tell(first, 1.0)  # the best of one
    strategy.tell(second, 0.75)
    strategy.restand({space.format(first): 0.5, space.format(second): 1.0})
    assert [s for _, s in strategy.population] == [0.5, 1.0]
    child = strategy.ask()  # both members in the tournament: the parent is `second` now
    assert _distance(space, child, second) == 1


def _tpe_good_set(strategy: Any, space: Any) -> set[tuple[int, ...]]:
    """The decisions of the trials Optuna's own TPE split puts in the good set of the
    strategy's study now (its private splitter: the reference the strategy must agree with)."""
    from optuna.samplers._tpe.sampler import _split_trials, default_gamma
    from optuna.trial import TrialState

    finished = strategy.study.get_trials(states=(TrialState.COMPLETE,))
    good, _ = _split_trials(strategy.study, finished, default_gamma(len(finished)))
    return {tuple(t.params[d.name] for d in space.decisions()) for t in good}


def test_tpe_models_the_standings_now() -> None:
    space = create_space("nb201")
    strategy = create_strategy("tpe", space, 0, {"startup_trials": 2})
    genotypes = [strategy.ask() for _ in range(12)]
    first = [i / 12 for i in range(12)]  # told in turn: the last two are the good set (2 of 12)
    for genotype, score in zip(genotypes, first, strict=True):
        strategy.tell(genotype, score)
    strategy.ask()
    assert strategy.generation == 0
    key = [tuple(space.to_decisions(g)) for g in genotypes]
    assert _tpe_good_set(strategy, space) == {key[10], key[11]}
    # re-told without changing the two best: the study keeps its trials (no rebuild)
    kept = {space.format(g): s / 2 if i < 10 else s for i, (g, s) in
            enumerate(zip(genotypes, first, strict=True))}  # fmt: skip
    strategy.restand(kept)
    late = strategy.ask()  # asked before the next re-telling, told after it
    assert strategy.generation == 0
    # re-told so that the first two lead: the next ask models them as the good set
    now = {space.format(g): 1.0 - s for g, s in zip(genotypes, first, strict=True)}
    strategy.restand(now)
    strategy.tell(late, 0.5)
    strategy.ask()
    assert strategy.generation == 1
    assert _tpe_good_set(strategy, space) == {key[0], key[1]}
    modelled = {
        tuple(t.params[d.name] for d in space.decisions()): t.value
        for t in strategy.study.trials
        if t.state.name == "COMPLETE"
    }
    assert modelled == {**{k: now[space.format(g)] for k, g in zip(key, genotypes, strict=True)},
                        tuple(space.to_decisions(late)): 0.5}  # fmt: skip


def test_good_trials_is_optunas_split() -> None:
    """gtnas.search.strategies.good_trials against Optuna's TPE splitter (its default gamma,
    which the strategy's sampler uses), ties and failures included, for 1 to 300 trials."""
    import numpy as np
    import optuna
    from optuna.samplers._tpe.sampler import _split_trials, default_gamma

    from gtnas.search.strategies import good_trials, tpe_gamma

    assert [tpe_gamma(n) for n in range(2000)] == [default_gamma(n) for n in range(2000)]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    spaces = {"x": optuna.distributions.CategoricalDistribution([0])}
    for n in (1, 2, 9, 10, 11, 37, 250, 300):
        values = [None if rng.random() < 0.1 else float(rng.integers(0, n // 3 + 1))
                  for _ in range(n)]  # fmt: skip
        order = rng.permutation(n)  # trial numbers in another order than the list's
        study = optuna.create_study(direction="maximize")
        by_number = sorted(range(n), key=lambda i: order[i])
        study.add_trials([
            optuna.trial.create_trial(params={"x": 0}, distributions=spaces, value=values[i])
            if values[i] is not None else
            optuna.trial.create_trial(params={"x": 0}, distributions=spaces,
                                      state=optuna.trial.TrialState.FAIL)
            for i in by_number
        ])  # fmt: skip
        finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        good, _ = _split_trials(study, finished, tpe_gamma(len(finished)))
        expected = {by_number[t.number] for t in good}
        number = {i: position for position, i in enumerate(by_number)}
        assert good_trials([(number[i], values[i]) for i in range(n)]) == expected, n
