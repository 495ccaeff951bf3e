"""Simulated search on a truth set against brute force and by hand."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from gtnas.analysis.simulate import (
    LadderPolicy,
    SearchPolicy,
    policies_for,
    run_simulation,
    simulate,
    simulate_ladder,
)
from gtnas.cli.app import main
from gtnas.errors import ConfigError
from gtnas.runtime.durations import parse_duration
from pictures import assert_picture

TRUTH = np.array([0.90, 0.95, 0.80, 0.97, 0.85, 0.92])


def test_a_perfect_proxy_with_enough_budget_returns_the_best() -> None:
    policy = SearchPolicy("oracle", TRUTH.copy(), np.full(6, 2.0), setup_seconds=5.0)
    enough, short = simulate(policy, TRUTH, [5.0 + 12.0, 5.0 + 3.9], orders=50)
    assert np.all(enough.regret == 0) and np.all(enough.evaluations == 6)
    assert np.all(short.evaluations == 1) and short.unscored == 0
    # one evaluation: each order returns its first architecture, whatever it is
    assert len(set(short.accuracy.tolist())) > 1
    nothing = simulate(policy, TRUTH, [4.0], orders=20)[0]  # not even the set-up is paid
    assert nothing.unscored == 20 and np.all(nothing.evaluations == 0)


def test_random_proxy_regret_matches_the_brute_force_average() -> None:
    """Budget for exactly m evaluations: the search returns the proxy's best of a uniform
    m-subset, so its expected regret is the average over all m-subsets."""
    scores = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2])  # a fixed "random" proxy
    policy = SearchPolicy("random", scores, np.ones(6))
    m = 3
    brute = np.mean([
        TRUTH.max() - TRUTH[max(subset, key=lambda i: scores[i])]
        for subset in itertools.combinations(range(6), m)
    ])  # fmt: skip
    outcome = simulate(policy, TRUTH, [float(m)], orders=20_000, seed=1)[0]
    assert np.all(outcome.evaluations == m)
    assert outcome.regret.mean() == pytest.approx(brute, abs=2e-3)


def test_pooled_searches_match_the_brute_force_average_over_pools() -> None:
    """Each search over a random pool of 4 of the 6, with budget for all of it, returns the
    proxy's best of its pool; its expected accuracy and regret (to the pool's best) are the
    averages over all 4-subsets."""
    scores = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2])
    policy = SearchPolicy("random", scores, np.ones(6))
    pools = list(itertools.combinations(range(6), 4))
    picked = [TRUTH[max(pool, key=lambda i: scores[i])] for pool in pools]
    regret = [TRUTH[list(pool)].max() - got for pool, got in zip(pools, picked, strict=True)]
    outcome = simulate(policy, TRUTH, [100.0], orders=20_000, seed=2, pool=4)[0]
    assert np.all(outcome.evaluations == 4)
    assert outcome.accuracy.mean() == pytest.approx(np.mean(picked), abs=2e-3)
    assert outcome.regret.mean() == pytest.approx(np.mean(regret), abs=2e-3)
    # a perfect proxy finds each pool's best: no regret, and a ladder keeps within its pool
    oracle = SearchPolicy("oracle", TRUTH.copy(), np.ones(6))
    assert np.all(simulate(oracle, TRUTH, [100.0], orders=200, pool=3)[0].regret == 0)
    ladder = _ladder((TRUTH, np.ones(6)), (TRUTH, np.ones(6)), eta=2)
    pooled = simulate_ladder(ladder, TRUTH, [100.0], orders=200, pool=3)[0]
    assert np.all(pooled.regret == 0) and np.all(pooled.evaluations == 3 + 1)
    # the whole set as the pool is the unpooled simulation, order for order
    a, b = (simulate(policy, TRUTH, [2.0, 5.0], orders=50, seed=4, pool=p) for p in (6, None))
    assert all(np.array_equal(x.accuracy, y.accuracy) for x, y in zip(a, b, strict=True))
    with pytest.raises(ConfigError, match="pool must be between 1 and"):
        simulate(policy, TRUTH, [1.0], pool=7)


def test_unscored_architectures_are_paid_and_never_returned() -> None:
    scores = np.array([np.nan, 0.2, 0.1, np.nan, 0.4, 0.3])
    policy = SearchPolicy("p", scores, np.array([1.0, 1, 1, 1, 10, 1]))
    outcome = simulate(policy, TRUTH, [100.0], orders=10)[0]
    assert np.all(TRUTH[0] != outcome.accuracy) and np.all(outcome.accuracy == TRUTH[4])
    # amortised set-ups: the one-off cost becomes a per-evaluation one
    paid, spread = policies_for("gtn:8", [1.0, None], [2.0, None], setup_seconds=100, amortise=10)
    assert paid.setup_seconds == 100 and list(paid.costs) == [2.0, 2.0]
    assert spread.setup_seconds == 0 and list(spread.costs) == [12.0, 12.0]
    assert spread.amortised_over == 10 and np.isnan(spread.scores[1])
    assert len(policies_for("params", [1.0, 2.0], [0.0, 0.0], setup_seconds=0)) == 1


def test_run_simulation_summaries_and_durations() -> None:
    result = run_simulation(
        TRUTH, {"oracle": (list(TRUTH), [1.0] * 6), "params": (list(-TRUTH), [0.0] * 6)},
        [3.0, 60.0], setups={"oracle": 2.0}, amortise=4, orders=30,
    )  # fmt: skip
    document = result.to_json()
    assert set(document["policies"]) == {"oracle", "oracle (set-up / 4 evaluations)", "params"}
    oracle = document["policies"]["oracle"]
    assert oracle["setup_seconds"] == 2.0 and oracle["at_budgets"][1]["regret"]["mean"] == 0
    params = document["policies"]["params"]["at_budgets"][0]  # free: it pays for the whole set
    assert params["accuracy"]["mean"] == pytest.approx(TRUTH.min())
    assert len(oracle["curve"]) == 40 and document["best_accuracy"] == TRUTH.max()
    assert [parse_duration(t) for t in ("90s", "10m", "1.5h", "600")] == [90, 600, 5400, 600]
    for bad in ("ten minutes", "-3m", "0"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


@pytest.mark.slow
def test_cli_simulate_end_to_end(tmp_path: Path, mnist, capsys) -> None:
    from gtnas.search.truth_build import TRUTH_FORMAT
    from gtnas.seeding import make_generator
    from gtnas.spaces import create_space

    space, generator, genotypes = create_space("nb201"), make_generator(2), []
    while len(genotypes) < 8:
        text = space.format(space.sample(generator))
        if text not in genotypes:
            genotypes.append(text)
    records = [{"genotype": g, "val_accuracy": 0.8 + 0.01 * i, "test_accuracy": 0.8 + 0.01 * i,
                "seconds": 1.0, "parameters": 1}  # (params is scored, not read from here)
               for i, g in enumerate(genotypes)]  # fmt: skip
    path = tmp_path / "toy.json"
    path.write_text(json.dumps({"format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201",
                                "space_options": {}, "blueprint": "tiny", "epochs": 1,
                                "train_subset": None, "seed": 0, "records": records}))  # fmt: skip
    out = tmp_path / "out"
    args = ["simulate", "--truth", str(path), "--proxy", "synflow", "--budget", "1s,1h",
            "--orders", "25", "--blueprint", "tiny", "--threads", "1", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    document = json.loads((out / "simulate-toy-test.json").read_text())
    assert set(document["policies"]) == {"synflow", "params", "flops"}  # the floor comes along
    assert document["budgets_seconds"] == [1.0, 3600.0] and document["orders"] == 25
    # the same scores, read back from the scoring studies by rank-corr
    assert main(["rank-corr", *args[1:5], "--blueprint", "tiny", "--out", str(out), "-q"]) == 0
    scores = json.loads((out / "rankcorr-toy-test.json").read_text())["scores"]
    truth = np.array([r["test_accuracy"] for r in records])
    for name, policy in document["policies"].items():
        whole = policy["at_budgets"][1]  # an hour pays for all 8: the proxy's best of the set
        assert whole["evaluations_mean"] == 8
        values = np.array([-np.inf if v == "-inf" else v for v in scores[name]], dtype=float)
        tied = truth.max() - truth[values == values.max()]  # ties go to the first evaluated
        assert tied.min() - 1e-12 <= whole["regret"]["mean"] <= tied.max() + 1e-12
        assert (whole["regret"]["std"] == 0) == (len(set(tied)) == 1)
    assert "synflow" in printed and "regret" in printed
    assert_picture(out / "simulate-toy-test.png", min_width=400)
    # searches in random pools of 4 of the 8 (the scores cached: no scoring again)
    capsys.readouterr()
    assert main([*args, "--pool", "4"]) == 0
    pooled = json.loads((out / "simulate-toy-test.json").read_text())
    assert pooled["pool"] == 4 and document["pool"] is None
    assert pooled["policies"]["synflow"]["at_budgets"][1]["evaluations_mean"] == 4
    assert "each in a random pool of 4" in " ".join(capsys.readouterr().out.split())
    assert main([*args, "--pool", "9"]) == 2
    assert "pool must be between 1 and the set's 8" in capsys.readouterr().err
    assert main([*args[:-1], "--budget", "soon"]) == 2
    assert "cannot read the duration 'soon'" in capsys.readouterr().err
    # successive halving up a ladder of the same (cached) scores: 8 on params, the best 4 on
    # synflow, which returns its best of those four
    assert main([*args, "--ladder", "floor=params,synflow", "--eta", "2"]) == 0
    document = json.loads((out / "simulate-toy-test.json").read_text())
    ladder = document["policies"]["sh:floor"]
    assert ladder["rungs"] == 2 and ladder["at_budgets"][1]["evaluations_mean"] == 8 + 4
    params, synflow = (np.array(scores[p], dtype=float) for p in ("params", "synflow"))
    kept = np.argsort(-params, kind="stable")[:4]
    returned = kept[np.argmax(synflow[kept])]
    assert ladder["at_budgets"][1]["regret"]["mean"] == pytest.approx(truth.max() - truth[returned])
    assert main([*args, "--ladder", "nothing"]) == 2
    # a rank average is simulated from its components, which come along unasked
    assert main([*args, "--proxy", "rankavg:params+synflow"]) == 0
    document = json.loads((out / "simulate-toy-test.json").read_text())
    assert {"synflow", "rankavg:params+synflow"} <= set(document["policies"])


def _ladder(*rungs, eta=3, setup=0.0) -> LadderPolicy:
    return LadderPolicy(
        "sh", tuple((np.asarray(s, float), np.asarray(c, float)) for s, c in rungs), eta, setup
    )


def test_successive_halving_by_hand() -> None:
    """Nine architectures, eta 3, three rungs: 9 scored on rung 0, its best 3 on rung 1, their
    best on rung 2; the search returns the last rung's architecture."""
    truth = np.linspace(0.5, 0.9, 9)
    noisy = np.array([9, 1, 8, 2, 7, 3, 6, 4, 5], float)  # rung 0 prefers 0, 2, 4
    middle = np.array([0, 0, 5, 0, 9, 0, 0, 0, 0], float)  # rung 1: 4 over 2 over 0
    ladder = _ladder((noisy, np.ones(9)), (middle, np.full(9, 2.0)), (truth, np.full(9, 10.0)))
    # n0 + (n0 // 3) * 2 + 10 seconds: 9 fit in 25 s, 6 in 20 s (6 + 2 * 2 + 10)
    assert ladder.bracket_size(9 + 3 * 2 + 10) == 9 and ladder.bracket_size(20) == 6
    index, scored, evaluations = ladder.run(np.arange(9), 9 + 3 * 2 + 10)
    assert (index, scored, evaluations) == (4, True, 13)
    # cut off in rung 1 after two of its three (0 scored 0, 2 scored 5; 4 not paid for): the
    # best of the highest rung it reached
    index, _, evaluations = ladder.run(np.arange(9), 9 + 2 * 2 + 0.5, size=9)
    assert (index, evaluations) == (2, 11)
    # the bracket that budget affords by expected cost: one architecture up all three rungs
    assert ladder.run(np.arange(9), 9 + 2 * 2 + 0.5) == (0, True, 3)
    # nothing paid for: the first proposal, unscored
    assert ladder.run(np.arange(9), 0.5) == (0, False, 0)


def test_a_ladder_ending_in_the_truth_with_budget_for_all_finds_the_best() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.5, 0.9, 27)
    ladder = _ladder((truth + rng.normal(0, 0.01, 27), np.ones(27)), (truth, np.ones(27)))
    enough = simulate_ladder(ladder, truth, [27 + 9], orders=30)[0]
    assert np.all(enough.evaluations == 36) and enough.unscored == 0
    assert np.mean(enough.regret) < 0.01  # a near-perfect first rung keeps the best


def test_unscored_architectures_are_paid_and_never_returned_or_promoted() -> None:
    nan = float("nan")
    ladder = _ladder(([nan, 0.1, 0.2], np.ones(3)), ([9.0, 0.3, 0.4], np.ones(3)))
    index, scored, evaluations = ladder.run(np.arange(3), 100.0)
    # rung 0 keeps max(1, 3 // 3) = 1: architecture 2; rung 1 scores it
    assert (index, scored, evaluations) == (2, True, 4)


def test_ladder_and_random_search_share_their_orders() -> None:
    one_rung = _ladder((TRUTH, np.ones(6)), eta=2)
    random = SearchPolicy("r", TRUTH.copy(), np.ones(6))
    for budget in (1.0, 3.0, 6.0):
        a = simulate_ladder(one_rung, TRUTH, [budget], orders=40, seed=3)[0]
        b = simulate(random, TRUTH, [budget], orders=40, seed=3)[0]
        assert np.array_equal(a.accuracy, b.accuracy)  # one rung: random search itself


def _rank_average(columns: np.ndarray) -> np.ndarray:
    """The independent reference: SciPy's average ranks, their mean over the columns."""
    from scipy.stats import rankdata

    return np.mean([rankdata(column, method="average") for column in columns], axis=0)


def test_a_set_proxy_returns_the_best_of_the_combination_over_what_it_drew() -> None:
    """rankavg:A+B ranks the architectures a search drew among themselves, not the whole set:
    with a budget for m evaluations each order returns the best rank average of its first m
    (SciPy), which differs from the whole-set combination's choice on some orders."""
    rng = np.random.default_rng(4)
    n, m = 12, 4
    truth = rng.uniform(0.8, 0.95, n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    scored = {"params": (list(a), [1.0] * n), "synflow": (list(b), [0.0] * n)}
    whole = _rank_average(np.stack([a, b]))
    scored["rankavg:params+synflow"] = (list(whole), [1.0] * n)
    result = run_simulation(truth, scored, [float(m)], amortise=None, orders=300, seed=2,
                            proxies=["rankavg:params+synflow"])  # fmt: skip
    (outcome,) = result.outcomes["rankavg:params+synflow"]
    orders = np.random.default_rng(2)
    differs = 0
    for o in range(300):
        drawn = orders.permutation(n)[:m]
        local = _rank_average(np.stack([a[drawn], b[drawn]]))
        expected = drawn[int(np.argmax(local))]  # ties: the first drawn
        assert outcome.accuracy[o] == truth[expected], o
        differs += expected != drawn[int(np.argmax(whole[drawn]))]
    assert differs > 0  # the whole-set column would have returned something else


def test_a_set_proxy_rung_promotes_by_the_combination_over_its_candidates() -> None:
    rng = np.random.default_rng(5)
    n = 9
    truth = rng.uniform(0.8, 0.95, n)
    a, b = rng.normal(size=n), rng.normal(size=n)
    scored = {"params": (list(a), [0.5] * n), "synflow": (list(b), [0.5] * n),
              "rankavg:params+synflow": (list(_rank_average(np.stack([a, b]))), [1.0] * n),
              "real:4": (list(truth), [3.0] * n)}  # fmt: skip
    ladder = {"sh": ["rankavg:params+synflow", "real:4"]}
    result = run_simulation(truth, scored, [100.0], amortise=None, orders=50, seed=0,
                            proxies=[], ladders=ladder)  # fmt: skip
    (outcome,) = result.outcomes["sh"]
    orders = np.random.default_rng(0)
    for o in range(50):
        order = orders.permutation(n)  # 9 on rung 0, the best 3 climb to the truth
        local = _rank_average(np.stack([a[order], b[order]]))
        kept = order[np.argsort(-local, kind="stable")[:3]]
        assert outcome.accuracy[o] == truth[kept].max()
    with pytest.raises(ValueError, match="components' scores"):
        run_simulation(truth, {"rankavg:params+synflow": scored["rankavg:params+synflow"]},
                       [10.0], amortise=None, orders=2)  # fmt: skip
