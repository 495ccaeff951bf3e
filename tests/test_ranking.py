"""The ranking-aware meta-objective (gtnas.meta.ranking): the pairwise loss and its derivatives
against autograd, the meta-gradient's extra last-step weight against the last step's own
meta-gradient, and a meta-step whose learners come from calibration architectures."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gtnas.meta.meta_step import learner_streams, mean_meta_gradient, sample_real_batches
from gtnas.meta.ranking import concordance, ranking_loss
from gtnas.meta.run import TeachRunConfig, make_learner_sampler, run_meta_training
from gtnas.meta.unroll import meta_gradient
from gtnas.seeding import make_generator
from gtnas.spaces import create_space
from gtnas.teachers import GeneratorConfig, TeacherConfig, create_teacher

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_GENERATOR = GeneratorConfig(noise_dim=8, hidden=16, channels=8, mid_channels=4)


def test_the_ranking_loss_and_its_slopes_match_autograd() -> None:
    rng = torch.Generator().manual_seed(0)
    losses = torch.rand(6, generator=rng, dtype=torch.float64) * 2
    accuracies = [0.9, 0.8, 0.9, 0.5, 0.7, 0.85]  # a tie (0 and 2) makes no pair
    tau = 0.3
    reference = losses.clone().requires_grad_()
    pairs = [(i, j) for i in range(6) for j in range(6) if accuracies[i] > accuracies[j]]
    margins = torch.stack([(reference[i] - reference[j]) / tau for i, j in pairs])
    expected = torch.nn.functional.softplus(margins).mean()
    expected.backward()
    value, slopes = ranking_loss(losses.tolist(), accuracies, tau)
    assert value == pytest.approx(float(expected.detach()), rel=1e-12)
    assert slopes == pytest.approx(reference.grad.tolist(), rel=1e-10, abs=1e-14)
    assert ranking_loss([1.0, 2.0], [0.5, 0.5], tau) == (0.0, [0.0, 0.0])
    with pytest.raises(ValueError):
        ranking_loss([1.0], [0.5], 0.0)


def test_concordance_by_hand() -> None:
    # the best (0.9) has the lowest loss, the worst the highest: perfectly ordered
    assert concordance([0.1, 0.5, 0.9], [0.9, 0.7, 0.5]) == 1.0
    assert concordance([0.9, 0.5, 0.1], [0.9, 0.7, 0.5]) == -1.0
    assert concordance([0.1, 0.5], [0.6, 0.6]) is None
    # pairs (0,1) agree, (0,2) agree, (1,2) disagree: (2 - 1) / 3
    assert concordance([0.1, 0.6, 0.5], [0.9, 0.7, 0.5]) == pytest.approx(1 / 3)


def _setup(mnist):
    space = create_space("nb201")
    teacher = create_teacher(
        "gtn",
        TeacherConfig(inner_steps=3, batch_size=8, generator=TINY_GENERATOR),
        (1, 28, 28),
        10,
        generator=make_generator(0),
    )
    images, labels = mnist.train.images[:500], mnist.train.labels[:500]
    return space, teacher, images, labels


@pytest.mark.parametrize("mode", ["unroll", "checkpoint"])
def test_a_final_weight_adds_that_much_of_the_last_steps_meta_gradient(mnist, mode) -> None:
    _, teacher, images, labels = _setup(mnist)
    sampler = make_learner_sampler(
        TeachRunConfig(learner="nb201", blueprint="tiny"), (1, 28, 28), 10
    )

    def gradient(scored: list[int], final_weight: float):
        stream = make_generator(7)
        learner = sampler.sample(stream)
        teacher.begin_episode(stream)
        real = sample_real_batches(images, labels, [1, 2, 3], 16, stream, torch.device("cpu"))
        real = {k: real[k] for k in scored}
        return meta_gradient(learner, teacher, real, mode=mode, final_weight=final_weight)

    plain, weighted = gradient([1, 2, 3], 0.0), gradient([1, 2, 3], 0.7)
    last_only = gradient([3], 0.0)  # the gradient of L_T alone
    for p, w, last in zip(plain.grads, weighted.grads, last_only.grads, strict=True):
        # float32 sums of the same terms in another order: agreement to about 1e-7
        torch.testing.assert_close(w - p, 0.7 * last, rtol=1e-4, atol=1e-7)
    assert weighted.weights[3] == pytest.approx(plain.weights[3] + 0.7)


def test_a_ranking_meta_step_draws_calibration_learners_and_leaves_the_rest_alone(mnist) -> None:
    space, teacher, images, labels = _setup(mnist)
    generator = make_generator(3)
    texts = []
    while len(texts) < 4:
        text = space.format(space.sample(generator))
        if text not in texts:
            texts.append(text)
    calibration = {text: 0.6 + 0.1 * i for i, text in enumerate(texts)}
    base = TeachRunConfig(learner="nb201", blueprint="tiny", calibration=calibration)
    plain_meta = replace(base.meta, learners_per_step=3, real_batch_size=16)
    ranked_meta = replace(plain_meta, rank_weight=2.0, rank_temperature=0.2)
    sampler = make_learner_sampler(base, (1, 28, 28), 10)
    device = torch.device("cpu")

    def step(meta):
        streams = learner_streams(meta, make_generator(1), seed=0, iteration=5)
        return mean_meta_gradient(teacher, sampler, images, labels, meta, streams, device)

    plain, ranked = step(plain_meta), step(ranked_meta)
    # the rewound streams draw the same learners, episodes and batches for the meta-gradients
    assert ranked.meta_loss == plain.meta_loss and ranked.final_loss == plain.final_loss
    assert plain.rank_loss is None and ranked.rank_loss is not None
    assert ranked.rank_loss >= 0 and (ranked.rank_tau is None or -1 <= ranked.rank_tau <= 1)
    assert any(not torch.equal(a, b) for a, b in zip(plain.grads, ranked.grads, strict=True))
    assert all(torch.isfinite(g).all() for g in ranked.grads)
    assert sampler.last_genotype is not None and sampler.last_accuracy in calibration.values()


def test_the_objective_needs_calibration_and_two_learners(tmp_path: Path) -> None:
    meta = replace(TeachRunConfig().meta, learners_per_step=2, rank_weight=1.0)
    with pytest.raises(ValueError, match="calibration"):
        TeachRunConfig(learner="nb201", meta=meta)
    with pytest.raises(ValueError, match="learners_per_step"):
        replace(meta, learners_per_step=1)


@pytest.mark.slow
def test_a_ranking_run_logs_its_objective_and_resumes_exactly(tmp_path: Path, mnist) -> None:
    space = create_space("nb201")
    generator, texts = make_generator(4), []
    while len(texts) < 3:
        text = space.format(space.sample(generator))
        if text not in texts:
            texts.append(text)
    config = TeachRunConfig(
        dataset="mnist",
        learner="nb201",
        blueprint="tiny",
        device="cpu",
        train_subset=1000,
        checkpoint_every=1,
        calibration={text: 0.5 + 0.2 * i for i, text in enumerate(texts)},
        teacher_options=TeacherConfig(inner_steps=3, batch_size=8, generator=TINY_GENERATOR),
        meta=replace(
            TeachRunConfig().meta,
            iterations=3,
            learners_per_step=2,
            rank_weight=1.0,
            real_batch_size=16,
            eval_every=0,
        ),
    )
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    records = [r for r in whole.history if r["iteration"] >= 1]
    assert all("rank_loss" in r and math.isfinite(r["rank_loss"]) for r in records)
    run_meta_training(config, tmp_path / "cut", show_progress=False, stop_after=2)
    resumed = run_meta_training(config, tmp_path / "cut", show_progress=False, resume=True)
    keys = ("meta_loss", "rank_loss", "rank_tau", "grad_norm")
    assert [[r.get(k) for k in keys] for r in resumed.history] == [
        [r.get(k) for k in keys] for r in whole.history
    ]


@pytest.mark.slow
def test_the_cli_calibrates_on_a_truth_set_and_rank_corr_leaves_it_out(
    tmp_path: Path, mnist, capsys
) -> None:
    import json

    from gtnas.cli.app import main
    from gtnas.search.truth_build import TRUTH_FORMAT

    space, generator, genotypes = create_space("nb201"), make_generator(2), []
    while len(genotypes) < 6:
        text = space.format(space.sample(generator))
        if text not in genotypes:
            genotypes.append(text)
    records = [{"genotype": g, "val_accuracy": 0.8 + 0.01 * i, "test_accuracy": 0.7 + 0.01 * i,
                "seconds": 1.0, "parameters": 1} for i, g in enumerate(genotypes)]  # fmt: skip
    truth = tmp_path / "toy.json"
    truth.write_text(json.dumps({"format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201",
                                 "space_options": {}, "blueprint": "tiny", "epochs": 1,
                                 "train_subset": None, "seed": 0, "records": records}))  # fmt: skip
    run = tmp_path / "teacher"
    tiny = ["--inner-steps", "3", "--batch-size", "8", "--iterations", "1", "--device", "cpu",
            "--quiet", "--learner", "nb201", "--blueprint", "tiny",
            "--set", "train_subset=1000", "--set", "meta.real_batch_size=16",
            "--set", "meta.eval_every=0", "--set", "teacher_options.init=random",
            "--set", "teacher_options.generator.noise_dim=8",
            "--set", "teacher_options.generator.hidden=16",
            "--set", "teacher_options.generator.channels=8",
            "--set", "teacher_options.generator.mid_channels=4"]  # fmt: skip
    args = ["teach", "train", "--out", str(run), *tiny, "--calibration", str(truth),
            "--calibration-count", "3", "--rank-weight", "1",
            "--learners-per-step", "2"]  # fmt: skip
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())
    # the first three architectures with their validation (never test) accuracies
    assert config["calibration"] == {g: 0.8 + 0.01 * i for i, g in enumerate(genotypes[:3])}
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert "rank_loss" in history[-1]
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["rank-corr", "--truth", str(truth), "--proxy", "params", "--teacher", str(run),
                 "--blueprint", "tiny", "--threads", "1", "--out", str(out)]) == 0  # fmt: skip
    assert "left out the 3 architectures" in capsys.readouterr().out
    result = json.loads((out / "rankcorr-toy-test.json").read_text())
    assert len(result["scores"]["params"]) == 3  # the three the teacher never saw
    bad = ["teach", "train", "--out", str(tmp_path / "bad"), *tiny, "--calibration", str(truth),
           "--calibration-count", "9"]  # fmt: skip
    assert main(bad) == 2
