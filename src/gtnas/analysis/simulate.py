"""Simulated search on a truth set: what a random search with a given proxy returns within a
budget of seconds, the way NAS benchmarks compare methods end to end.

A truth set gives every architecture's accuracy after long training; a proxy's scoring of the
set gives its score and its measured seconds for each. A random search is then a random order
of the set's architectures: it pays a one-off set-up (a teacher's meta-training, the tuning of
real:K's learning rate), then each evaluation's seconds, in that order, and returns the
architecture its proxy scored highest among those it could pay for. Its *regret* is the set's
best accuracy minus the accuracy of what it returned. Over many random orders (seeded) this
gives the mean and spread of what a user of that proxy gets for a budget, and, over a range of
budgets, a regret-against-seconds curve per proxy.

Conventions:

- evaluations are drawn without replacement, so a budget that pays for the whole set returns
  the proxy's best of the set (the set, not the space, is searched);
- ``pool``: each search draws from a random ``pool`` of the set's architectures instead (the
  first ``pool`` of its random order), and its regret is to that pool's best. A set of 100 is
  a small space: a cheap proxy pays for all of it within minutes, and then every order returns
  the same architecture, its one argmax, so whether that one cell is good decides the policy.
  Searching many random pools measures instead how good the proxy's pick is on average over
  spaces (a bootstrap over search spaces);
- an evaluation that produced no score (a diverged learner) is paid and never returned;
- a search that could pay for no scored evaluation returns its first proposal unscored, as a
  user would take some architecture (counted in ``unscored``);
- a teacher's meta-training is shown both ways: paid up front by the one search
  (``amortised=None``), and spread over ``amortise`` evaluations (the teacher serves many
  searches), each then paying ``meta_seconds / amortise`` more;
- ties in score go to the architecture evaluated first.

Successive halving (:class:`LadderPolicy`) is simulated the same way, rung by rung: for a
budget, the bracket is the largest number of architectures ``n0`` whose expected cost (each
rung's mean seconds times the architectures that reach it, ``n0``, ``n0 // eta``, ...) fits
in it (decided from the costs, never from the truth); the first ``n0`` of the order are scored
on rung 0, the best ``max(1, n // eta)`` of each rung climb to the next, and the search
returns the best architecture of the highest rung it paid for (a budget that runs out
mid-rung returns what it had), as ``gtnas search --scheduler sh`` does.

A set proxy (``rankavg:gtn:32+synflow``) scores an architecture by its standing among others,
so its simulation ranks exactly what the search would rank (:class:`SetScores`): a random
search's returned architecture is the best of the combination over those it drew, a rung's
promotions the best of the combination over that rung's candidates; an architecture with a
non-finite component fails in a search, and here is paid and never returned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gtnas.errors import ConfigError
from gtnas.search.proxies import SetProxy, create_proxy, proxy_needs_teacher


@dataclass(frozen=True)
class SetScores:
    """A set proxy's component scores over the set and how it combines them."""

    parts: np.ndarray  # (k, n) each component's score per architecture; NaN: none
    combine: Callable[[list[list[float]]], Sequence[float]]

    def among(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices),) the set proxy's scores of these architectures ranked among each
        other alone; NaN where a component has no finite score (a failed evaluation)."""
        block = self.parts[:, np.asarray(indices, dtype=np.int64)]  # (k, m)
        ok = np.isfinite(block).all(axis=0)
        out = np.full(block.shape[1], np.nan)
        if ok.any():
            out[ok] = np.asarray(self.combine(block[:, ok].tolist()), dtype=np.float64)
        return out


@dataclass(frozen=True)
class SearchPolicy:
    """A random search with one proxy: how it ranks and what it pays."""

    name: str
    scores: np.ndarray  # (n,) proxy score per architecture; NaN: evaluated without a score
    costs: np.ndarray  # (n,) seconds of each architecture's evaluation
    setup_seconds: float = 0.0  # paid once, before the first evaluation
    amortised_over: int | None = None  # the set-up spread over this many evaluations
    # a set proxy: ranked among the drawn architectures (``scores``: over the whole set)
    set_scores: SetScores | None = None

    def __post_init__(self) -> None:
        if self.scores.shape != self.costs.shape or self.scores.ndim != 1:
            raise ValueError("scores and costs must be aligned 1-D arrays")
        if not np.all(np.isfinite(self.costs)) or np.any(self.costs < 0):
            raise ValueError(f"{self.name}: costs must be finite seconds >= 0")
        if self.setup_seconds < 0:
            raise ValueError(f"{self.name}: set-up seconds must be >= 0")


@dataclass(frozen=True)
class BudgetOutcome:
    """What the searches of one policy returned at one budget, over all random orders."""

    policy: str
    budget: float  # seconds
    accuracy: np.ndarray  # (orders,) truth accuracy of the returned architecture
    regret: np.ndarray  # (orders,) the best of the space searched (the set or a pool) minus that
    evaluations: np.ndarray  # (orders,) evaluations paid for
    unscored: int  # orders that could pay for no scored evaluation

    def summary(self) -> dict[str, Any]:
        def spread(values: np.ndarray) -> dict[str, float]:
            low, median, high = np.quantile(values, [0.1, 0.5, 0.9])
            return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if
                    len(values) > 1 else 0.0, "p10": float(low), "median": float(median),
                    "p90": float(high)}  # fmt: skip

        return {
            "policy": self.policy,
            "budget_seconds": self.budget,
            "orders": len(self.accuracy),
            "accuracy": spread(self.accuracy),
            "regret": spread(self.regret),
            "evaluations_mean": float(self.evaluations.mean()),
            "unscored": self.unscored,
        }


def simulate(
    policy: SearchPolicy,
    truth: Sequence[float],
    budgets: Sequence[float],
    *,
    orders: int = 100,
    seed: int = 0,
    pool: int | None = None,
) -> list[BudgetOutcome]:
    """Run ``orders`` random searches of ``policy`` over the set (or each over a random
    ``pool`` of it); one outcome per budget."""
    values = np.asarray(truth, dtype=np.float64)
    n = len(values)
    if len(policy.scores) != n:
        raise ValueError(f"{policy.name} scores {len(policy.scores)} architectures, truth {n}")
    permutations = _orders(n, orders, seed, pool)  # (orders, m): m = pool or n
    best = values[permutations].max(axis=1)  # (orders,) each search's space's best
    paid = policy.setup_seconds + np.cumsum(policy.costs[permutations], axis=1)  # (orders, m)
    # returned[o, m]: the architecture order o returns after its first m + 1 evaluations
    if policy.set_scores is None:
        returned, any_scored = _leaders(policy.scores, permutations)
    else:  # only as far as the largest budget pays
        reach = max(int((paid <= max(budgets, default=0.0)).sum(axis=1).max()), 1)
        returned, any_scored = _set_leaders(policy.set_scores, permutations, reach)
    outcomes = []
    for budget in budgets:
        m = (paid <= budget).sum(axis=1)  # evaluations paid for in each order
        rows = np.arange(orders)
        chosen = np.where(m > 0, returned[rows, np.maximum(m - 1, 0)], permutations[:, 0])
        unscored = (m == 0) | ~any_scored[rows, np.maximum(m - 1, 0)]
        accuracy = values[chosen]
        outcomes.append(
            BudgetOutcome(
                policy.name, float(budget), accuracy, best - accuracy, m, int(unscored.sum())
            )
        )
    return outcomes


def _orders(n: int, orders: int, seed: int, pool: int | None) -> np.ndarray:
    """(orders, pool or n) the searches' random orders: row o is the first ``pool`` entries of
    a seeded permutation of the set, so a search over a pool and one over the whole set with
    the same seed start alike, and every policy simulated with that seed shares them."""
    if orders < 1:
        raise ConfigError(f"orders must be at least 1, got {orders}")
    if pool is not None and not 1 <= pool <= n:
        raise ConfigError(f"pool must be between 1 and the set's {n} architectures, got {pool}")
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n)[:pool] for _ in range(orders)])


def _leaders(scores: np.ndarray, permutations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(returned, any scored), each (orders, n): the best-scored architecture of each order's
    first m + 1 (ties: the one evaluated first) and whether any of them had a score."""
    orders, n = permutations.shape
    scored = ~np.isnan(scores)
    scores = np.where(scored, scores, -np.inf)
    returned = np.empty((orders, n), dtype=np.int64)
    any_scored = np.empty((orders, n), dtype=bool)
    for o, order in enumerate(permutations):
        leader, seen = order[0], bool(scored[order[0]])
        for m, index in enumerate(order):
            if scored[index] and (not seen or scores[index] > scores[leader]):
                leader, seen = index, True
            returned[o, m], any_scored[o, m] = leader, seen
    return returned, any_scored


def _set_leaders(
    set_scores: SetScores, permutations: np.ndarray, reach: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_leaders` for a set proxy: after m + 1 evaluations, the best of the combination
    over those m + 1 alone (computed for the first ``reach`` evaluations; later columns repeat
    the last, never read)."""
    orders, n = permutations.shape
    returned = np.repeat(permutations[:, :1], n, axis=1)
    any_scored = np.zeros((orders, n), dtype=bool)
    for o, order in enumerate(permutations):
        for m in range(min(reach, n)):
            standing = set_scores.among(order[: m + 1])
            if np.isfinite(standing).any():
                returned[o, m] = order[int(np.nanargmax(standing))]  # ties: the first drawn
                any_scored[o, m] = True
        returned[o, reach:] = returned[o, reach - 1]
        any_scored[o, reach:] = any_scored[o, reach - 1]
    return returned, any_scored


@dataclass(frozen=True)
class LadderPolicy:
    """Successive halving up a ladder of proxies: each rung's scores and seconds per
    architecture (NaN: no score), the reduction factor, and the set-up paid once (e.g. a
    teacher's meta-training, a real:K learning-rate tuning)."""

    name: str
    rungs: tuple[tuple[np.ndarray, np.ndarray], ...]  # per rung: (scores (n,), costs (n,))
    eta: int = 3
    setup_seconds: float = 0.0
    amortised_over: int | None = None
    # per rung, a set proxy's parts (None: a plain proxy); empty: every rung plain
    set_scores: tuple[SetScores | None, ...] = ()

    def __post_init__(self) -> None:
        if self.set_scores and len(self.set_scores) != len(self.rungs):
            raise ValueError(f"{self.name}: one set_scores entry per rung, or none")
        if not self.rungs or self.eta < 2:
            raise ValueError(f"{self.name}: a ladder needs a rung and eta >= 2")
        sizes = {len(scores) for scores, _ in self.rungs} | {len(c) for _, c in self.rungs}
        if len(sizes) != 1:
            raise ValueError(f"{self.name}: every rung must score the same architectures")

    @property
    def costs(self) -> np.ndarray:
        """(n,) the seconds to take one architecture up every rung (what its curves span)."""
        return np.sum([costs for _, costs in self.rungs], axis=0)

    def bracket_size(self, budget: float) -> int:
        """The most architectures whose whole bracket is expected to fit ``budget``."""
        means = [float(costs.mean()) for _, costs in self.rungs]
        n = len(self.rungs[0][0])

        def expected(n0: int) -> float:
            total, count = self.setup_seconds, n0
            for mean in means:
                total += count * mean
                count = max(1, count // self.eta)
            return total

        size = 1
        while size < n and expected(size + 1) <= budget:
            size += 1
        return size

    def run(
        self, order: np.ndarray, budget: float, size: int | None = None
    ) -> tuple[int, bool, int]:
        """(returned architecture, whether it was scored, evaluations paid) of one search
        that draws ``size`` architectures (default: :meth:`bracket_size`) in ``order`` and may
        spend ``budget`` seconds."""
        paid, evaluations = self.setup_seconds, 0
        leader: tuple[int, float] | None = None  # (rung, score) of the returned architecture
        returned = int(order[0])
        candidates = [int(i) for i in order[: size or self.bracket_size(budget)]]
        for rung, (scores, costs) in enumerate(self.rungs):
            combined = self.set_scores[rung] if self.set_scores else None
            results = []
            for index in candidates:
                if paid + costs[index] > budget:
                    return returned, leader is not None, evaluations
                paid += float(costs[index])
                evaluations += 1
                if combined is not None:  # the rung so far, ranked anew among itself
                    results.append((math.nan, index))
                    standing = combined.among([i for _, i in results])
                    results = [(-math.inf if math.isnan(v) else float(v), i)
                               for v, (_, i) in zip(standing, results, strict=True)]  # fmt: skip
                    if np.isfinite(standing).any():
                        top = int(np.nanargmax(standing))  # ties: the first evaluated
                        leader, returned = (rung, results[top][0]), results[top][1]
                    continue
                score = float(scores[index])
                if math.isnan(score):
                    score = -math.inf  # paid, never returned, promoted only if nothing else
                elif leader is None or (rung, score) > leader:
                    leader, returned = (rung, score), index
                results.append((score, index))
            # the best 1/eta climb; ties go to the one evaluated first (a stable sort)
            ranked = sorted(results, key=lambda pair: -pair[0])
            candidates = [index for _, index in ranked[: max(1, len(ranked) // self.eta)]]
        return returned, leader is not None, evaluations


def simulate_ladder(
    policy: LadderPolicy,
    truth: Sequence[float],
    budgets: Sequence[float],
    *,
    orders: int = 100,
    seed: int = 0,
    pool: int | None = None,
) -> list[BudgetOutcome]:
    """Run ``orders`` successive-halving searches of ``policy`` over the set or a random
    ``pool`` of it (the same random orders as :func:`simulate` with that seed); one outcome
    per budget. A bracket never draws more than the space searched."""
    values = np.asarray(truth, dtype=np.float64)
    n = len(values)
    if len(policy.rungs[0][0]) != n:
        raise ValueError(f"{policy.name} scores {len(policy.rungs[0][0])} architectures, truth {n}")
    permutations = _orders(n, orders, seed, pool)  # (orders, pool or n)
    best = values[permutations].max(axis=1)  # (orders,)
    outcomes = []
    for budget in budgets:
        size = min(policy.bracket_size(float(budget)), permutations.shape[1])
        runs = [policy.run(order, float(budget), size) for order in permutations]
        chosen = np.array([index for index, _, _ in runs])
        evaluations = np.array([count for _, _, count in runs])
        unscored = sum(not scored for _, scored, _ in runs)
        accuracy = values[chosen]
        regret = best - accuracy
        outcome = BudgetOutcome(policy.name, float(budget), accuracy, regret, evaluations, unscored)
        outcomes.append(outcome)
    return outcomes


def policies_for(
    proxy: str,
    scores: Sequence[float | None],
    costs: Sequence[float | None],
    *,
    setup_seconds: float = 0.0,
    amortise: int | None = None,
    set_scores: SetScores | None = None,
) -> list[SearchPolicy]:
    """The simulated searches of one scored proxy: one paying its set-up up front and, when
    there is a set-up and ``amortise``, one spreading it over that many evaluations.
    Architectures the proxy did not score (``None``) cost its mean seconds and return nothing;
    a score of -inf is the lowest score. ``set_scores``: a set proxy's parts (see
    :class:`SetScores`)."""
    known = [c for c in costs if c is not None]
    if not known:
        raise ConfigError(f"{proxy} has no recorded seconds per evaluation to pay")
    mean_cost = float(np.mean(known))
    cost = np.array([mean_cost if c is None else float(c) for c in costs])
    value = np.array([math.nan if s is None else float(s) for s in scores])
    out = [SearchPolicy(proxy, value, cost, setup_seconds, set_scores=set_scores)]
    if setup_seconds > 0 and amortise:
        out.append(
            SearchPolicy(
                f"{proxy} (set-up / {amortise} evaluations)",
                value,
                cost + setup_seconds / amortise,
                0.0,
                amortise,
                set_scores,
            )
        )
    return out


def set_scores_of(
    scored: dict[str, tuple[Sequence[float | None], Sequence[float | None]]],
    proxies: Sequence[str] | None = None,
) -> dict[str, SetScores]:
    """Each set proxy among ``proxies`` (default: all of ``scored``, proxy -> (scores,
    seconds)) with its components' scores, which ``scored`` must hold too."""
    out = {}
    for proxy in scored if proxies is None else proxies:
        try:
            made = create_proxy(proxy)
        except ConfigError:  # a column under a name of its own (an oracle, a test's)
            continue
        if not isinstance(made, SetProxy):
            continue
        missing = [part for part in made.components if part not in scored]
        if missing:
            raise ValueError(
                f"{proxy}: simulating it needs its components' scores too ({', '.join(missing)})"
            )
        parts = np.array([[math.nan if v is None else float(v) for v in scored[part][0]]
                          for part in made.components])  # fmt: skip
        out[proxy] = SetScores(parts, made.combine)
    return out


def setup_seconds(
    proxy: str, infos: dict[str, dict[str, Any]], meta_seconds: float | None
) -> float:
    """What one search with ``proxy`` pays once: the real:K learning-rate tuning where its
    seconds were recorded (``infos[p]["real_lr_seconds"]``) and, for a proxy that scores with
    a teacher, its meta-training; a rank average pays its components'."""

    made = create_proxy(proxy)
    parts = list(made.components) if isinstance(made, SetProxy) else [proxy]
    total = sum(float(infos.get(p, {}).get("real_lr_seconds", 0.0)) for p in parts)
    if meta_seconds and any(proxy_needs_teacher(p) for p in parts):
        total += meta_seconds
    return total


@dataclass
class Simulation:
    """Every policy's outcomes at the asked budgets and along its regret curve."""

    best: float  # the set's best truth accuracy
    budgets: list[float]
    outcomes: dict[str, list[BudgetOutcome]]  # policy -> one per asked budget
    curves: dict[str, list[BudgetOutcome]]  # policy -> along a common range of budgets
    policies: dict[str, SearchPolicy | LadderPolicy]
    pool: int | None = None  # each search's space: a random pool of this many (None: the set)

    def to_json(self) -> dict[str, Any]:
        return {
            "best_accuracy": self.best,
            "pool": self.pool,
            "budgets_seconds": self.budgets,
            "policies": {
                name: {
                    "setup_seconds": policy.setup_seconds,
                    "amortised_over": policy.amortised_over,
                    # a ladder: the mean seconds to take one architecture up every rung
                    "seconds_per_evaluation": float(policy.costs.mean()),
                    "rungs": len(policy.rungs) if isinstance(policy, LadderPolicy) else 1,
                    "at_budgets": [o.summary() for o in self.outcomes[name]],
                    "curve": [
                        {
                            "budget_seconds": o.budget,
                            "regret_mean": float(o.regret.mean()),
                            "regret_p10": float(np.quantile(o.regret, 0.1)),
                            "regret_p90": float(np.quantile(o.regret, 0.9)),
                        }
                        for o in self.curves[name]
                    ],
                }
                for name, policy in self.policies.items()
            },
        }


def ladder_policies(
    name: str,
    rungs: Sequence[str],
    scored: dict[str, tuple[Sequence[float | None], Sequence[float | None]]],
    *,
    eta: int = 3,
    setups: dict[str, float] | None = None,
    amortise: int | None = None,
) -> list[LadderPolicy]:
    """Successive halving up ``rungs`` (proxies in ``scored``), paying every distinct rung's
    set-up once; with a set-up and ``amortise``, also the same ladder with its set-up spread
    over that many architectures drawn (added to each one's first-rung seconds)."""
    missing = [rung for rung in rungs if rung not in scored]
    if missing:
        raise ConfigError(f"ladder {name}: no scores for {', '.join(missing)}")
    combined = set_scores_of(scored, rungs)
    built = []
    for rung in rungs:
        (policy, *_) = policies_for(rung, *scored[rung])
        built.append((policy.scores, policy.costs))
    sets = tuple(combined.get(rung) for rung in rungs) if combined else ()
    setup = sum((setups or {}).get(rung, 0.0) for rung in dict.fromkeys(rungs))
    out = [LadderPolicy(name, tuple(built), eta, setup, set_scores=sets)]
    if setup > 0 and amortise:
        first_scores, first_costs = built[0]
        spread = ((first_scores, first_costs + setup / amortise), *built[1:])
        out.append(LadderPolicy(f"{name} (set-up / {amortise} evaluations)", spread, eta, 0.0,
                                amortise, sets))  # fmt: skip
    return out


def run_simulation(
    truth: Sequence[float],
    scored: dict[str, tuple[Sequence[float | None], Sequence[float | None]]],
    budgets: Sequence[float],
    *,
    setups: dict[str, float] | None = None,
    amortise: int | None = 1000,
    orders: int = 100,
    seed: int = 0,
    points: int = 40,
    ladders: dict[str, Sequence[str]] | None = None,
    eta: int = 3,
    proxies: Sequence[str] | None = None,
    pool: int | None = None,
) -> Simulation:
    """Simulate a random search with every proxy in ``scored`` (proxy -> (scores, seconds per
    architecture); only those in ``proxies`` when given) and successive halving up every
    ladder of ``ladders`` (name -> rung proxies) at ``budgets``, each with its set-up seconds
    from ``setups``; the curves share one range of budgets, from the cheapest evaluation to
    the dearest whole set. ``pool``: each search draws from a random pool of that many of the
    set's architectures (see the module's conventions)."""
    policies: dict[str, SearchPolicy | LadderPolicy] = {}
    combined = set_scores_of(scored, [p for p in scored if proxies is None or p in proxies])
    for proxy, (scores, costs) in scored.items():
        if proxies is not None and proxy not in proxies:
            continue
        for policy in policies_for(
            proxy, scores, costs, setup_seconds=(setups or {}).get(proxy, 0.0),
            amortise=amortise, set_scores=combined.get(proxy),
        ):  # fmt: skip
            policies[policy.name] = policy
    for name, rungs in (ladders or {}).items():
        for ladder in ladder_policies(
            name, rungs, scored, eta=eta, setups=setups, amortise=amortise
        ):
            policies[ladder.name] = ladder
    low = min(p.setup_seconds + max(float(p.costs.min()), 1e-6) for p in policies.values())
    high = max(p.setup_seconds + float(p.costs.sum()) for p in policies.values())
    high = max(high, *budgets) if budgets else high
    grid = np.geomspace(low, high, points)
    values = np.asarray(truth, dtype=np.float64)

    def run(policy: SearchPolicy | LadderPolicy, at: Sequence[float]) -> list[BudgetOutcome]:
        if isinstance(policy, LadderPolicy):
            return simulate_ladder(policy, values, at, orders=orders, seed=seed, pool=pool)
        return simulate(policy, values, at, orders=orders, seed=seed, pool=pool)

    outcomes = {n: run(p, budgets) for n, p in policies.items()}
    curves = {n: run(p, grid) for n, p in policies.items()}
    return Simulation(
        float(values.max()), [float(b) for b in budgets], outcomes, curves, policies, pool
    )
