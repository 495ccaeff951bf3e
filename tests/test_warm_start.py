"""Warm start from real data (teacher_options.init=real) and the meta-lr warm-up."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from gtnas.errors import ConfigError
from gtnas.learners import ConvLearnerConfig, create_learner_sampler
from gtnas.meta.fresh_learners import evaluate_teacher
from gtnas.meta.meta_step import (
    MetaTrainConfig,
    make_meta_optimizer,
    validate_teacher,
    validation_seed,
)
from gtnas.meta.run import TeachRunConfig, run_meta_training, teacher_from_run
from gtnas.runtime.checkpoint import load_checkpoint
from gtnas.teachers import GeneratorConfig, TeacherConfig, create_teacher
from gtnas.teachers.warm_start import real_targets

# A resumed run is compared bit for bit with an uninterrupted one (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_GENERATOR = GeneratorConfig(noise_dim=16, hidden=64, channels=16, mid_channels=8)
TINY_LEARNER = ConvLearnerConfig(channels=(8, 16), fc=32)


def small_data(n: int = 200, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 1, 8, 8, generator=g)
    labels = torch.arange(n) % classes
    return images, labels


def test_real_targets_match_each_slots_class_without_repeats():
    images, labels = small_data(200)
    slots = (torch.arange(40) % 10).view(4, 10)
    targets = real_targets(slots, images, labels, torch.Generator().manual_seed(1))
    assert targets.shape == (4, 10, 1, 8, 8)
    flat = targets.view(40, -1)
    # every target is one of the data set's images, of the slot's class, none used twice
    index = torch.cdist(flat, images.view(200, -1)).argmin(dim=1)
    assert torch.equal(labels[index], slots.flatten())
    assert index.unique().numel() == 40


def test_real_targets_reuse_images_only_when_a_class_runs_out_and_fail_on_a_missing_class():
    images, labels = small_data(20)  # two images per class
    slots = torch.zeros(2, 3, dtype=torch.long)  # six slots of class 0
    targets = real_targets(slots, images, labels, torch.Generator().manual_seed(0))
    assert targets.shape == (2, 3, 1, 8, 8)
    with pytest.raises(ConfigError, match="no image of class 3"):
        real_targets(
            torch.full((1, 2), 3), images[labels != 3], labels[labels != 3], torch.Generator()
        )


def test_gtn_warm_start_fits_its_batches_to_real_images():
    images, labels = small_data(400)
    config = TeacherConfig(inner_steps=4, batch_size=20, generator=TINY_GENERATOR)
    teacher = create_teacher(
        "gtn", config, (1, 8, 8), 10, generator=torch.Generator().manual_seed(0)
    )
    targets = real_targets(teacher.labels, images, labels, torch.Generator().manual_seed(5))

    def error() -> float:
        with torch.no_grad():
            return sum(float(F.mse_loss(teacher.batch(t)[0], targets[t])) for t in range(4))

    before = error()
    errors: list[float] = []
    mse = teacher.warm_start(
        images,
        labels,
        epochs=60,
        generator=torch.Generator().manual_seed(5),
        on_epoch=lambda epoch, value: errors.append(value),
    )
    after = error()
    assert len(errors) == 60 and mse == errors[-1]
    assert after < 0.5 * before, (before, after)
    assert errors[-1] < 0.5 * errors[0]
    # the labels of each slot are untouched, and nothing is left in .grad
    assert torch.equal(teacher.labels, (torch.arange(20) % 10).repeat(4, 1))
    assert all(p.grad is None for p in teacher.parameters())


def test_pixel_warm_start_copies_class_matched_real_images():
    images, labels = small_data(200)
    config = TeacherConfig(inner_steps=3, batch_size=10)
    teacher = create_teacher("pixels", config, (1, 8, 8), 10, generator=torch.Generator())
    assert (
        teacher.warm_start(images, labels, epochs=1, generator=torch.Generator().manual_seed(2))
        == 0
    )
    expected = real_targets(teacher.labels, images, labels, torch.Generator().manual_seed(2))
    assert torch.equal(teacher.images.detach(), expected)


@pytest.mark.parametrize("name", ["real", "gtn-nocurriculum"])
def test_teachers_without_a_fixed_curriculum_refuse_a_warm_start(name):
    images, labels = small_data(50)
    config = TeacherConfig(inner_steps=2, batch_size=10, generator=TINY_GENERATOR)
    teacher = create_teacher(name, config, (1, 8, 8), 10, real_images=images, real_labels=labels)
    with pytest.raises(ConfigError, match="cannot start from real data"):
        teacher.warm_start(images, labels, epochs=1, generator=torch.Generator())


def test_teacher_config_rejects_an_unknown_init():
    with pytest.raises(ValueError, match="init must be"):
        TeacherConfig(init="pretrained")


def test_meta_lr_warms_up_linearly_then_decays():
    teacher = create_teacher("pixels", TeacherConfig(inner_steps=2, batch_size=4), (1, 4, 4), 2)
    config = MetaTrainConfig(iterations=10, meta_lr=1.0, warmup_iterations=4, final_lr_fraction=0.1)
    optimizer, scheduler = make_meta_optimizer(teacher, config)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert all(a > b for a, b in itertools.pairwise(rates[4:]))
    assert rates[-1] > 0.1


@pytest.mark.slow
def test_warm_started_run_starts_near_real_data_and_resumes_without_refitting(tmp_path, mnist):
    config = TeachRunConfig(
        dataset="mnist",
        teacher="gtn",
        device="cpu",
        train_subset=3000,
        checkpoint_every=2,
        teacher_options=TeacherConfig(
            inner_steps=6, batch_size=40, generator=TINY_GENERATOR, init="real", init_epochs=40
        ),
        learner_options=TINY_LEARNER,
        meta=MetaTrainConfig(
            iterations=4,
            meta_lr=0.01,
            warmup_iterations=2,
            real_batch_size=64,
            eval_every=2,
            eval_examples=500,
        ),
    )
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    first = whole.history[0]
    assert first["iteration"] == 0 and first["warm_start_mse"] > 0 and first["seconds"] > 0
    assert [h["iteration"] for h in whole.history] == [0, 1, 2, 3, 4]
    # Before any meta-gradient, the warm-started teacher already teaches far better than the
    # same teacher untrained (the learner validated at iteration 0 is the same one).
    untrained = create_teacher(
        "gtn", config.teacher_options, (1, 28, 28), 10, generator=torch.Generator().manual_seed(0)
    )
    sampler = create_learner_sampler("fixed", (1, 28, 28), 10, TINY_LEARNER)
    val = (mnist.val.images[:500], mnist.val.labels[:500])
    before = validate_teacher(untrained, sampler, *val, validation_seed(0, 0), torch.device("cpu"))
    assert first["val_acc"] > before + 0.25, (before, first)

    # Stopped right after the warm start, then resumed: the fit is not repeated (the resumed
    # log keeps the one iteration-0 record) and the numbers equal the uninterrupted run's.
    run_meta_training(config, tmp_path / "cut", show_progress=False, stop_after=0)
    assert load_checkpoint(tmp_path / "cut").step == 0
    resumed = run_meta_training(config, tmp_path / "cut", resume=True, show_progress=False)
    assert [h["iteration"] for h in resumed.history] == [0, 1, 2, 3, 4]
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert a.get("meta_loss") == b.get("meta_loss") and a.get("val_acc") == b.get("val_acc")

    teacher, _ = teacher_from_run(tmp_path / "whole")
    results = evaluate_teacher(
        teacher,
        sampler,
        mnist.val.images[:1000],
        mnist.val.labels[:1000],
        learners=2,
        seed=7,
        sampled=False,
    )
    assert min(r.accuracy for r in results) > before + 0.25


def test_meta_parameter_groups_get_their_own_learning_rates():
    config = TeacherConfig(inner_steps=2, batch_size=4, generator=TINY_GENERATOR, soft_labels=True)
    teacher = create_teacher("gtn", config, (1, 8, 8), 10, generator=torch.Generator())
    groups = teacher.meta_parameter_groups()
    assert sorted(groups) == ["curriculum", "generator", "schedule", "soft_labels"]
    assert sum(len(p) for p in groups.values()) == len(teacher.meta_parameters())
    assert groups["curriculum"] == [teacher.curriculum]
    assert groups["schedule"] == list(teacher.optimizer.parameters())

    meta = MetaTrainConfig(meta_lr=0.02, lr_scale={"generator": 0.1, "schedule": 2.0})
    optimizer, _ = make_meta_optimizer(teacher, meta)
    rates = {
        name: next(g["lr"] for g in optimizer.param_groups if g["params"][0] is params[0])
        for name, params in groups.items()
    }
    assert rates == pytest.approx(
        {"generator": 0.002, "schedule": 0.04, "curriculum": 0.02, "soft_labels": 0.02}
    )
    # By default a GTN's generator learns at 1/30 of the meta-lr, everything else at the meta-lr.
    optimizer, _ = make_meta_optimizer(teacher, MetaTrainConfig(meta_lr=0.03))
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx(
        [0.001, 0.03, 0.03, 0.03]
    )
    # The no-curriculum ablation's generator is all it learns: it keeps the full meta-lr.
    plain = create_teacher("gtn-nocurriculum", config, (1, 8, 8), 10, generator=torch.Generator())
    optimizer, _ = make_meta_optimizer(plain, MetaTrainConfig(meta_lr=0.03))
    assert sorted(plain.meta_parameter_groups()) == ["generator", "schedule"]
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.03, 0.03])
    pixels = create_teacher("pixels", TeacherConfig(inner_steps=2, batch_size=4), (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="does not have; its meta-parameter groups are"):
        make_meta_optimizer(pixels, MetaTrainConfig(lr_scale={"generator": 0.1}))
    with pytest.raises(ValueError, match="positive"):
        MetaTrainConfig(lr_scale={"generator": 0.0})
