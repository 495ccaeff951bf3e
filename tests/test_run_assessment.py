"""Assessing a teach run: the real-data baseline shared between runs through a cache file."""

import pytest

from gtnas.learners import ConvLearnerConfig
from gtnas.meta import run_assessment as assessment
from gtnas.meta.meta_step import MetaTrainConfig
from gtnas.meta.run import TeachRunConfig, run_meta_training
from gtnas.meta.run_assessment import assess_run
from gtnas.teachers import GeneratorConfig, TeacherConfig


class Recomputed(Exception):
    pass


def _refuse(*args, **kwargs):
    raise Recomputed


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("assess") / "run"
    config = TeachRunConfig(
        dataset="mnist",
        teacher="gtn",
        device="cpu",
        train_subset=1000,
        teacher_options=TeacherConfig(
            inner_steps=3,
            batch_size=16,
            generator=GeneratorConfig(noise_dim=8, hidden=16, channels=8, mid_channels=4),
        ),
        learner_options=ConvLearnerConfig(channels=(4, 8), fc=16),
        meta=MetaTrainConfig(iterations=1, real_batch_size=16, eval_every=0),
    )
    run_meta_training(config, run, show_progress=False)
    return run


@pytest.mark.slow
def test_a_cached_baseline_is_reused_not_recomputed(tiny_run, tmp_path, monkeypatch):
    kwargs = dict(learners=2, sampled=False, device="cpu")
    cache = tmp_path / "baseline.json"
    fresh = assess_run(tiny_run, baseline_cache=cache, **kwargs)  # computes, then caches
    assert cache.is_file() and "cached" not in fresh["real"]
    assert fresh["real_steps_to_match"] is not None

    # A second teacher of the same data set and learner: nothing real is trained again.
    monkeypatch.setattr(assessment, "tune_real_lr", _refuse)
    monkeypatch.setattr(assessment, "real_steps_to_match", _refuse)
    second = assess_run(tiny_run, baseline_cache=cache, **kwargs)
    assert second["real"] == {**fresh["real"], "cached": True}
    assert second["real_steps_to_match"] == fresh["real_steps_to_match"]
    assert second["real_match_curve"] == fresh["real_match_curve"]

    # Anything the baseline depends on differs (here the learners' seed): recomputed.
    with pytest.raises(Recomputed):
        assess_run(tiny_run, baseline_cache=cache, seed=1001, **kwargs)


def test_the_match_is_read_off_a_cached_curve_only_when_it_decides():
    curve = {16: 0.80, 24: 0.85, 32: 0.90}
    assert assessment._match_from_curve(0.84, curve, complete=False) == 24
    assert assessment._match_from_curve(0.80, curve, complete=False) == 16
    # the curve stopped at 32 for a lower target: a higher one needs more training
    assert assessment._match_from_curve(0.95, curve, complete=False) is assessment._UNDECIDED
    # the curve ran to the last checkpoint: the target is out of reach
    assert assessment._match_from_curve(0.95, curve, complete=True) is None
