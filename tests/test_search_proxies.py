"""Proxies score architectures deterministically; executors do not change the scores."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from gtnas.analysis.rankcorr import proxy_steps
from gtnas.errors import ConfigError
from gtnas.search.executor import (
    ContextSpec,
    EvaluationTask,
    InlineExecutor,
    ProcessExecutor,
    build_context,
)
from gtnas.search.proxies import PROXIES, GTNProxy, SetProxy, create_proxy, proxy_needs_teacher
from gtnas.seeding import make_generator
from gtnas.spaces import create_space
from gtnas.teachers import TeacherConfig, create_teacher
from gtnas.teachers.generator import GeneratorConfig

SPEC = ContextSpec(
    dataset="mnist",
    space="nb201",
    space_options={},
    blueprint="tiny",
    train_subset=512,
    eval_examples=300,
    real_batch_size=32,
)


@pytest.fixture(scope="module")
def context(mnist):
    context = build_context(SPEC)
    config = TeacherConfig(
        inner_steps=4,
        batch_size=16,
        generator=GeneratorConfig(noise_dim=8, hidden=32, channels=8, mid_channels=8),
    )
    context.teacher = create_teacher(
        "gtn", config, context.image_shape, context.num_classes, generator=make_generator(0)
    )
    return context


GENOTYPES = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
]


# Every registered proxy, with a small K for those that train (train:E trains for real: one
# epoch of 256 images, see _context_for).
SMOKE_ARGUMENTS = {
    "gtn": "6",
    "real": "6",
    "gtn-schedule": "6",
    "train": "1",
    "rankavg": "params+synflow",
}
EVERY_PROXY = [
    f"{kind}:{SMOKE_ARGUMENTS[kind]}" if kind in SMOKE_ARGUMENTS else kind
    for kind in PROXIES.names()
]


def _context_for(context, name: str):
    """train:E trains on the context's data set with its recipe: a small one for the test."""
    if not name.startswith("train:"):
        return context
    from gtnas.config import config_to_dict
    from gtnas.search.proxies.final_training import RECIPE_KEY, default_truth_recipe

    recipe = replace(default_truth_recipe(), train_subset=256, val_subset=200, batch_size=64)
    return replace(context, extra={RECIPE_KEY: config_to_dict(recipe)})


def test_the_smoke_list_is_the_whole_registry() -> None:
    kinds = {name.partition(":")[0] for name in EVERY_PROXY}
    assert kinds == set(PROXIES.names()) and {"flops", "params", "train"} <= kinds


@pytest.mark.parametrize("name", EVERY_PROXY)
def test_proxies_are_deterministic_finite_and_timed(context, name: str) -> None:
    context = _context_for(context, name)
    space = context.space
    proxy = create_proxy(name)
    genotype = space.parse(GENOTYPES[0])
    if isinstance(proxy, SetProxy):  # scores a set from its components' columns
        genotypes = [space.parse(text) for text in GENOTYPES]
        columns = [
            [create_proxy(c).score(g, context, 0).score for g in genotypes]
            for c in proxy.components
        ]
        combined = proxy.combine(columns)
        assert combined == proxy.combine(columns) and all(map(math.isfinite, combined))
        with pytest.raises(ConfigError, match="scores a set"):
            proxy.score(genotype, context, 0)
        return
    first, again = proxy.score(genotype, context, 0), proxy.score(genotype, context, 0)
    assert first.score == again.score and math.isfinite(first.score)
    assert first.seconds >= 0
    if name.startswith(("gtn", "real", "train")):
        assert 0.0 <= first.score <= 1.0
    if name.startswith(("gtn", "real")):
        # another seed trains another learner on other data: a different accuracy
        assert proxy.score(genotype, context, 1).score != first.score


def test_trained_proxies_prefer_a_conv_cell_over_a_pooling_only_cell(context) -> None:
    space = context.space
    conv, pool = (space.parse(text) for text in GENOTYPES)
    proxy = create_proxy("real:40")
    conv_score = sum(proxy.score(conv, context, seed).score for seed in range(2))
    pool_score = sum(proxy.score(pool, context, seed).score for seed in range(2))
    assert conv_score > pool_score
    assert (
        create_proxy("params").score(conv, context, 0).score
        > create_proxy("params").score(pool, context, 0).score
    )


def test_gtn_proxy_replays_the_curriculum_beyond_its_steps(context) -> None:
    # K = 10 > T = 4 steps: runs without indexing past the curriculum
    result = create_proxy("gtn:10").score(context.space.parse(GENOTYPES[0]), context, 0)
    assert result.details == {"steps": 10}


def _schedule_teacher(context, lr: float, momentum: float, batch_size: int):
    config = TeacherConfig(
        inner_steps=6,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        generator=GeneratorConfig(noise_dim=8, hidden=32, channels=8, mid_channels=8),
    )
    return create_teacher(
        "gtn", config, context.image_shape, context.num_classes, generator=make_generator(1)
    )


def test_schedule_proxy_is_real_data_with_the_teachers_schedule(context) -> None:
    genotype = context.space.parse(GENOTYPES[0])
    # A teacher of T = K steps whose schedule is real:K's constant lr and momentum, at real:K's
    # batch size: gtn-schedule then trains exactly what real:K trains (same seed -> same weights
    # and data).
    teacher = _schedule_teacher(context, context.real_lr, context.real_momentum, 32)
    probe = replace(context, teacher=teacher)
    schedule, real = create_proxy("gtn-schedule:6"), create_proxy("real:6")
    same = schedule._train_once(genotype, probe, schedule.teacher(probe), seed=5)
    assert same == real._train_once(genotype, probe, real.teacher(probe), seed=5)

    # Its batches are real training images of the teacher's batch size, never the generator's,
    # and its per-step schedule is the teacher's learned one.
    with torch.no_grad():
        teacher.optimizer.log_lr.copy_(torch.log(torch.tensor([0.2, 0.1, 0.05, 0.05, 0.02, 0.01])))
        teacher.optimizer.momentum_logit[1] = 0.0  # momentum 0.5 at step 1
    built = schedule.teacher(probe)
    assert built.optimizer.schedule() == teacher.optimizer.schedule()
    built.begin_episode(make_generator(0))
    images, labels = built.batch(0)
    assert images.shape == (32, *context.image_shape) and labels.shape == (32,)
    real_images, real_labels = context.train
    rows = (images.flatten(1)[:, None] == real_images.flatten(1)[None]).all(-1)  # (32, N)
    assert rows.any(1).all()
    assert torch.equal(labels, real_labels[rows.float().argmax(1)])
    # another schedule, the same learner and data: another accuracy
    assert schedule._train_once(genotype, probe, built, seed=5) != same

    with pytest.raises(ConfigError, match="gtn-schedule proxy needs a trained teacher"):
        schedule.score(genotype, replace(context, teacher=None), 0)


def test_proxy_names_are_checked() -> None:
    assert {"gtn", "real", "gtn-schedule", "synflow", "naswot", "params"} <= set(PROXIES.names())
    with pytest.raises(ConfigError, match="unknown proxy 'flopz'"):
        create_proxy("flopz")
    for bad in ("gtn:many", "gtn:32x", "gtn:x2", "real:32x2.5"):
        with pytest.raises(ConfigError, match="write K or KxR with integers"):
            create_proxy(bad)
    with pytest.raises(ConfigError, match="at least 1"):
        create_proxy("gtn:32x0")
    with pytest.raises(
        ConfigError, match="only the gtn, gtn-schedule and real proxies take repeats"
    ):
        create_proxy("params:3x2")
    assert create_proxy("gtn").name == "gtn:128"
    assert create_proxy("gtn:32x1").name == "gtn:32"  # one repeat is the plain proxy
    assert proxy_steps("gtn:32x2") == 64 and proxy_steps("real:40") == 40
    assert proxy_steps("synflow") is None


def test_teacher_needs_are_declared_by_the_proxy_not_its_name(monkeypatch) -> None:
    from gtnas.analysis.rankcorr import ScoringOptions, _check_teacher
    from gtnas.search.pipeline import SearchConfig

    assert proxy_needs_teacher("gtn:32x4") and proxy_needs_teacher(" gtn-schedule:8")
    assert not any(map(proxy_needs_teacher, ("real:16", "synflow", "naswot", "params")))
    with pytest.raises(ConfigError, match="unknown proxy 'flopz'"):
        proxy_needs_teacher("flopz")
    # a teacher-backed proxy under a name without the "gtn" prefix is still asked for one
    monkeypatch.setitem(PROXIES._entries, "distilled", GTNProxy)
    assert proxy_needs_teacher("distilled:16")
    assert SearchConfig(proxy="distilled:16").needs_teacher()
    assert not SearchConfig(proxy="synflow").needs_teacher()
    with pytest.raises(ConfigError, match="need a trained teacher"):
        _check_teacher(None, ["distilled:16"], ScoringOptions())  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["gtn", "real", "gtn-schedule"])
def test_repeated_proxy_is_the_mean_of_independent_learners(context, kind: str) -> None:
    genotype = context.space.parse(GENOTYPES[0])
    single = create_proxy(f"{kind}:6").score(genotype, context, 3)
    repeated = create_proxy(f"{kind}:6x3").score(genotype, context, 3)
    assert repeated.details["repeats"] == 3
    scores = [repeated.details[f"repeat{r}"] for r in range(3)]
    # repeat 0 is the single run itself; the others train other learners on other data
    assert scores[0] == single.score
    assert len(set(scores)) > 1
    assert repeated.score == pytest.approx(sum(scores) / 3)
    assert create_proxy(f"{kind}:6x3").score(genotype, context, 3).score == repeated.score


def test_process_pool_gives_the_same_scores_as_the_driver(mnist) -> None:
    space = create_space("nb201")
    genotypes = [space.format(space.sample(make_generator(s))) for s in range(4)]
    tasks = [EvaluationTask(i, g, ("params", "naswot"), 0) for i, g in enumerate(genotypes)]

    def collect(executor) -> dict[int, dict[str, float]]:
        for task in tasks:
            executor.submit(task)
        out = {}
        while executor.pending():
            for result in executor.wait():
                assert result.error is None, result.error
                out[result.key] = result.scores
        return out

    inline = collect(InlineExecutor(SPEC))
    with ProcessExecutor(SPEC, workers=2) as pool:
        assert collect(pool) == inline


def test_an_evaluation_error_is_reported_not_raised(mnist) -> None:
    executor = InlineExecutor(SPEC)
    executor.submit(EvaluationTask(0, "nb201:|bogus~0|", ("params",), 0))
    (result,) = executor.wait()
    assert result.error is not None and "bogus" in result.error


def test_torch_threads_are_left_alone_by_scoring(context) -> None:
    """Scoring in the driver (the inline executor) must not change the process's threads:
    the workers set their own, once, when they build their context."""
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    torch.set_num_threads(other)
    try:
        genotype = context.space.parse(GENOTYPES[0])
        for name in ("gtn:3", "real:3", "synflow", "naswot", "params", "flops"):
            create_proxy(name).score(genotype, context, 0)
            assert torch.get_num_threads() == other, name
    finally:
        torch.set_num_threads(before)


def test_rank_average_is_a_registered_set_proxy_with_its_components() -> None:
    proxy = create_proxy("rankavg:gtn:128+synflow")
    assert isinstance(proxy, SetProxy) and proxy.components == ("gtn:128", "synflow")
    assert proxy.name == "rankavg:gtn:128+synflow"
    assert proxy_needs_teacher("rankavg:gtn:128+synflow")
    assert not proxy_needs_teacher("rankavg:params+synflow")
    # higher score, higher rank; ties share their mean rank
    assert proxy.combine([[1.0, 1.0, 5.0], [0.2, 0.3, 0.1]]) == [1.75, 2.25, 2.0]
    for bad in ("rankavg:synflow", "rankavg:synflow+", "rankavg:synflow+nope", "rankavg:a+rankavg"):
        with pytest.raises(ConfigError):
            create_proxy(bad)
