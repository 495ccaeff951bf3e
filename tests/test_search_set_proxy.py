"""A set proxy (``rankavg:A+B``) in a search: evaluated as its components, each architecture
recorded at its standing among those scored before it, the search's top and a ladder's
promotions ranked anew over all that the proxy scored; checked against SciPy's ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from gtnas.cli.app import main
from gtnas.errors import ConfigError
from gtnas.search.ladder import Entry, LadderState, create_scheduler
from gtnas.search.pipeline import SearchConfig, SearchPipeline
from gtnas.search.proxies.population import finite_parts, plain_proxies, population_scores
from gtnas.search.strategies import STRATEGIES
from gtnas.search.study import Study, default_storage

PROXY = "rankavg:params+synflow"


def _reference(columns: list[list[float]], weights: list[float] | None = None) -> np.ndarray:
    """The weighted mean of SciPy's average ranks, as a fraction of the population."""
    ranks = [rankdata(column, method="average") for column in columns]
    return np.average(ranks, axis=0, weights=weights) / len(columns[0])


def test_a_set_proxy_is_evaluated_as_its_components() -> None:
    assert plain_proxies(("rankavg:gtn:64+synflow", "params", "synflow")) == (
        "gtn:64", "synflow", "params",
    )  # fmt: skip
    assert plain_proxies(("rankavg:0.7*gtn:32+0.3*params",)) == ("gtn:32", "params")
    with pytest.raises(ConfigError, match="unknown proxy 'nonsense'"):
        plain_proxies(("rankavg:params+nonsense",))
    assert finite_parts(PROXY, {"params": 3.0, "synflow": 1.0}) is None
    assert finite_parts(PROXY, {"params": 3.0, "synflow": float("-inf")}).startswith(
        "non-finite synflow"
    )
    assert finite_parts(PROXY, {"params": 3.0}).startswith("non-finite synflow")


def test_population_scores_match_scipy_ranks() -> None:
    rng = np.random.default_rng(0)
    params = rng.integers(0, 5, size=30).astype(float)  # ties: average ranks
    synflow = rng.normal(size=30)
    population = [{"params": p, "synflow": s} for p, s in zip(params, synflow, strict=True)]
    got = population_scores(PROXY, population)
    assert np.allclose(got, _reference([list(params), list(synflow)]))
    weighted = population_scores("rankavg:0.8*params+0.2*synflow", population)
    assert np.allclose(weighted, _reference([list(params), list(synflow)], [0.8, 0.2]))
    assert population_scores("params", population) == list(params)  # a plain proxy: its own
    best = {"params": 99.0, "synflow": 99.0}
    assert population_scores(PROXY, [*population, best])[-1] == 1.0  # best under both: 1


def _pipeline(tmp_path: Path, **overrides) -> SearchPipeline:
    config = SearchConfig(dataset="mnist", space="nb201", blueprint="tiny", proxy=PROXY,
                          budget=12, top_k=4, eval_examples=200, **overrides)  # fmt: skip
    return SearchPipeline("set", tmp_path, config=config, show_progress=False)


def test_a_search_records_standings_and_ranks_all_it_scored(tmp_path: Path, mnist) -> None:
    pipeline = _pipeline(tmp_path)
    pipeline.search(None)
    completed = sorted(pipeline.study.completed(), key=lambda r: r.number)
    failed = [r for r in pipeline.study.records() if r.state == "FAIL"]
    assert len(completed) + len(failed) == 12 and len(completed) >= 8
    # a cell with no path from input to output has no synflow score: it fails, as with synflow
    assert all(r.error.startswith("non-finite synflow") for r in failed)
    columns = [[r.scores[p] for r in completed] for p in ("params", "synflow")]
    for i, record in enumerate(completed):  # told: its standing among those before and itself
        prefix = [column[: i + 1] for column in columns]
        assert record.score == pytest.approx(_reference(prefix)[-1])
    final = _reference(columns)
    expected = [completed[i].genotype for i in np.argsort(-final, kind="stable")[:4]]
    top = pipeline.top()
    assert [r.genotype for r in top] == expected
    assert [r.score for r in top] == pytest.approx(sorted(final, reverse=True)[:4])


def _stopped_and_resumed(tmp_path: Path, **overrides) -> SearchPipeline:
    """The same search run in three sessions: stopped after 3 and 5 more results, resumed."""
    cut = _pipeline(tmp_path, **overrides)
    for stop in (3, 5):
        cut.search(None, stop_after=stop)
    cut.search(None)
    return cut


def _trace(records: list) -> list[tuple[str, float | None]]:
    return [(r.genotype, r.score) for r in sorted(records, key=lambda r: r.number)]


def test_a_set_proxy_search_stopped_and_resumed_matches(tmp_path: Path, mnist) -> None:
    evolution = {"strategy": "evolution", "strategy_options": {"population": 4, "sample_size": 2}}
    whole = _pipeline(tmp_path / "whole", **evolution)
    whole.search(None)
    cut = _stopped_and_resumed(tmp_path / "cut", **evolution)
    assert _trace(cut.study.completed()) == _trace(whole.study.completed())


def test_successive_halving_promotes_by_the_rank_average_of_the_rung() -> None:
    rng = np.random.default_rng(1)
    table = {f"g{i}": {"params": float(rng.normal()), "synflow": float(rng.normal()),
                       "real:4": float(rng.normal())} for i in range(18)}  # fmt: skip
    scheduler = create_scheduler("sh", rungs=2, eta=3, budget=18)
    state = LadderState(2, proxies=(PROXY, "real:4"))
    drawn = 0
    while (decision := scheduler.decide(state)).kind != "done":
        if decision.kind == "sample":
            genotype, drawn = f"g{drawn}", drawn + 1
            state.sampled[0] = state.sampled.get(0, 0) + 1
        else:
            genotype = decision.genotype
        index = len(state.entries)
        state.entries.append(Entry(genotype, decision.rung, 0, index, 0.5, True, index,
                                   scores=table[genotype]))  # fmt: skip
    promoted = {e.genotype for e in state.entries if e.rung == 1}
    names = [f"g{i}" for i in range(18)]
    reference = _reference([[table[g]["params"] for g in names],
                            [table[g]["synflow"] for g in names]])  # fmt: skip
    assert promoted == {names[i] for i in np.argsort(-reference)[:6]}


def test_gtnas_search_takes_a_rank_average(tmp_path: Path, mnist) -> None:
    out = tmp_path / "runs"
    assert main(["search", "--dataset", "mnist", "--space", "nb201", "--blueprint", "tiny",
                 "--proxy", PROXY, "--scheduler", "sh", "--ladder", "real:4", "--eta", "2",
                 "--budget", "4", "--no-final", "--quiet", "--set", "eval_examples=200",
                 "--out", str(out), "--study", "avg"]) == 0  # fmt: skip
    study = Study.open("avg", default_storage(out), config=None, decision_sizes={})
    first = [r for r in study.completed() if r.rung == 0]
    assert len(first) == 4 and all({"params", "synflow"} <= r.scores.keys() for r in first)
    assert all(0 < r.score <= 1 for r in first)
    assert len([r for r in study.completed() if r.rung == 1]) == 2
    assert "Top architectures" in (out / "avg" / "report.html").read_text()


def test_the_report_reads_a_rank_average_by_its_standing_among_all() -> None:
    from gtnas.reports.search_report import with_standings
    from gtnas.search.study import TrialRecord

    params, synflow = [3.0, 1.0, 2.0, 5.0], [1.0, 2.0, 3.0, 0.0]
    records = [
        TrialRecord(n, f"nb201:{n}", "COMPLETE", 0.5, 1.0, rung=n % 2,
                    scores={"params": params[n], "synflow": synflow[n]})
        for n in range(4)
    ]  # fmt: skip
    shown = with_standings(records, {"proxy": PROXY, "scheduler": "none"})
    expected = _reference([params, synflow])  # all four ranked together
    assert [r.score for r in shown] == pytest.approx(list(expected))
    assert [r.scores[PROXY] for r in shown] == pytest.approx(list(expected))
    # on a ladder each rung ranks its own evaluations (rung 0: trials 0 and 2)
    laddered = with_standings(records, {"proxy": PROXY, "scheduler": "sh", "ladder": ["real:4"]})
    rung0 = _reference([[params[0], params[2]], [synflow[0], synflow[2]]])
    assert [laddered[0].score, laddered[2].score] == pytest.approx(list(rung0))
    assert laddered[1] == records[1] and laddered[3] == records[3]  # rung 1: a plain proxy
    assert with_standings(records, {"proxy": "params", "scheduler": "none"}) == records


@pytest.mark.parametrize("strategy", ["evolution", "tpe"])
def test_a_strategy_is_retold_the_standings_and_a_resumed_search_matches(
    tmp_path: Path, mnist, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    """After each result the strategy hears every scored architecture's standing among all
    scored so far (SciPy's ranks), and a search stopped twice and resumed replays those
    re-tellings: it proposes and records what an uninterrupted one does."""
    heard: list[dict[str, float]] = []
    cls = STRATEGIES.get(strategy)
    original = cls.restand

    def spy(self, scores) -> None:
        heard.append(dict(scores))
        original(self, scores)

    options = {"population": 4, "sample_size": 2} if strategy == "evolution" else {
        "startup_trials": 4}  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(cls, "restand", spy)
        whole = _pipeline(tmp_path / "whole", strategy=strategy, strategy_options=options)
        whole.search(None)
    completed = sorted(whole.study.completed(), key=lambda r: r.number)
    columns = [[r.scores[p] for r in completed] for p in ("params", "synflow")]
    assert len(heard) == len(completed)
    assert heard[-1] == pytest.approx(
        dict(zip([r.genotype for r in completed], _reference(columns), strict=True))
    )
    cut = _stopped_and_resumed(tmp_path / "cut", strategy=strategy, strategy_options=options)
    assert _trace(cut.study.records()) == _trace(whole.study.records())
