"""The Ray path gives the same results as the local path for a seeded random search."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtnas.search.executor import ContextSpec, InlineExecutor, RayExecutor
from gtnas.search.runner import run_search
from gtnas.search.strategies import create_strategy
from gtnas.search.study import Study
from gtnas.spaces import create_space

ray = pytest.importorskip("ray")

SPEC = ContextSpec(
    dataset="mnist",
    space="nb201",
    space_options={},
    blueprint="tiny",
    train_subset=256,
    eval_examples=200,
)


def _run(storage: str, name: str, executor) -> dict[str, dict[str, float]]:
    space = create_space("nb201")
    study = Study.open(
        name,
        storage,
        config={"strategy": "random"},
        decision_sizes={d.name: len(d) for d in space.decisions()},
    )
    run_search(
        study,
        space,
        create_strategy("random", space, 3),
        executor,
        budget=6,
        proxies=("naswot", "params"),
        seed=0,
    )
    return {r.genotype: r.scores for r in study.completed()}


def test_ray_and_local_searches_agree(tmp_path: Path, mnist) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    local = _run(storage, "local", InlineExecutor(SPEC))
    try:
        executor = RayExecutor(SPEC, workers=2)
        distributed = _run(storage, "ray", executor)
        assert executor.workers == 2
    finally:
        ray.shutdown()
    assert distributed == local and len(local) == 6
