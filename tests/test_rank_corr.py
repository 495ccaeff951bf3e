"""`gtnas rank-corr` and `gtnas speedup` against hand computations and direct rank statistics."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from gtnas.analysis.ceiling import for_the_mean
from gtnas.analysis.rank import kendall_tau, rank_correlations, spearman
from gtnas.analysis.rankcorr import ProxyScores, combine, correlate, parse_proxies
from gtnas.analysis.speedup import (
    AT_LEAST,
    AT_MOST,
    INTERPOLATED,
    CurvePoint,
    compute_speedup,
    match_curve,
    speedup_proxies,
    teacher_cost_seconds,
    teacher_meta_seconds,
)
from gtnas.analysis.truthset import TRUTH_FORMAT
from gtnas.cli.app import main
from gtnas.errors import ConfigError
from gtnas.ranks import rank_average
from gtnas.search.study import Study, default_storage
from gtnas.seeding import make_generator
from gtnas.spaces import create_space
from pictures import assert_picture

N = 10


def _genotypes(n: int) -> list[str]:
    space, generator, seen = create_space("nb201"), make_generator(11), []
    while len(seen) < n:
        text = space.format(space.sample(generator))
        if text not in seen:
            seen.append(text)
    return seen


def _write_truth(path: Path, n: int = N, *, seeds: bool = False) -> dict:
    """A synthetic truth set of real nb201 genotypes with made-up accuracies; with ``seeds``,
    two seeds per architecture whose mean is the record's accuracy."""
    records = [
        {
            "genotype": genotype,
            "val_accuracy": 0.80 + 0.013 * ((3 * i) % n),
            "test_accuracy": 0.80 + 0.011 * ((7 * i) % n) + 0.001 * i,
            "seconds": 10.0 + i,
            "parameters": 1000 + i,
        }
        for i, genotype in enumerate(_genotypes(n))
    ]
    if seeds:
        for i, record in enumerate(records):
            shift = 0.02 * ((5 * i) % 3 - 1)  # seed 1 disagrees a little with seed 0
            record["seeds"] = [
                {"seed": s, "val_accuracy": record["val_accuracy"] + sign * shift,
                 "test_accuracy": record["test_accuracy"] + sign * shift}
                for s, sign in ((0, -1), (1, 1))
            ]  # fmt: skip
    document = {"format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201",
                "space_options": {}, "blueprint": "tiny", "epochs": 1, "train_subset": 256,
                "seed": 0, "machine": {}, "records": records}  # fmt: skip
    path.write_text(json.dumps(document))
    return document


def _parameters(genotypes: list[str]) -> list[float]:
    """Parameters of each tiny BatchNorm network, counted here (the params proxy's truth)."""
    space = create_space("nb201")
    counts = []
    for text in genotypes:
        network = space.build(space.parse(text.partition(":")[2]), (1, 28, 28), 10,
                              norm="bn", blueprint="tiny")  # fmt: skip
        counts.append(float(sum(p.numel() for p in network.parameters())))
    return counts


@pytest.mark.slow
def test_rank_corr_gives_the_rank_statistics_of_the_scores(tmp_path: Path, mnist) -> None:
    truth_path, out = tmp_path / "toy-set.json", tmp_path / "out"
    document = _write_truth(truth_path)
    proxies = ["--proxy", "params", "--proxy", "synflow", "--proxy", "rankavg:params+synflow"]
    args = ["rank-corr", "--truth", str(truth_path), *proxies, "--blueprint", "tiny",
            "--out", str(out), "--resamples", "200", "--threads", "1", "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "rankcorr-toy-set-test.json").read_text())
    truth = [r["test_accuracy"] for r in document["records"]]
    params = _parameters([r["genotype"] for r in document["records"]])
    assert result["scores"]["params"] == params
    expected = rank_correlations(params, truth, top_fraction=0.5, resamples=200)
    got = result["proxies"]["params"]
    assert got["n"] == N and got["n_top"] == 5 and got["missing"] == 0
    assert got["spearman_all"] == pytest.approx(spearman(params, truth), abs=1e-12)
    assert got["kendall_all"] == pytest.approx(kendall_tau(params, truth), abs=1e-12)
    assert got["spearman_top"] == pytest.approx(expected.spearman_top, abs=1e-12)
    assert got["kendall_top"] == pytest.approx(expected.kendall_top, abs=1e-12)
    assert got["spearman_top_ci95"] == pytest.approx(list(expected.ci95_top))
    assert got["spearman_all_ci95"] == pytest.approx(list(expected.ci95_all))
    # synflow finds no signal (-inf, kept as the lowest score) in cells without a path through
    synflow = [-math.inf if v == "-inf" else v for v in result["scores"]["synflow"]]
    assert None not in synflow and result["proxies"]["synflow"]["missing"] == 0
    assert result["scores"]["rankavg:params+synflow"] == list(rank_average([params, synflow]))
    for name in ("params", "synflow", "rankavg-params+synflow"):
        _assert_png(out / f"scatter-toy-set-test-{name}.png")

    # a re-run evaluates nothing: the scores come back from the studies
    storage = default_storage(out)
    trials = {s: len(Study.open(s, storage, config=None, decision_sizes={}).records())
              for s in result["studies"].values()}  # fmt: skip
    assert main([*args, "--truth-metric", "val"]) == 0
    again = json.loads((out / "rankcorr-toy-set-val.json").read_text())
    assert again["scores"] == result["scores"]
    for study, count in trials.items():
        assert len(Study.open(study, storage, config=None, decision_sizes={}).records()) == count
    val = [r["val_accuracy"] for r in document["records"]]
    assert again["proxies"]["params"]["spearman_all"] == pytest.approx(spearman(params, val))


def test_rank_corr_keeps_every_learner_of_a_repeated_proxy(tmp_path: Path, mnist, capsys) -> None:
    truth_path, out = tmp_path / "toy-set.json", tmp_path / "out"
    _write_truth(truth_path, n=4)
    args = ["rank-corr", "--truth", str(truth_path), "--proxy", "real:2x3", "--real-lr", "0.05",
            "--blueprint", "tiny", "--out", str(out), "--resamples", "20", "--threads", "1",
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "rankcorr-toy-set-test.json").read_text())
    repeats = result["repeat_scores"]["real:2x3"]  # (architectures, learners)
    assert [len(r) for r in repeats] == [3] * 4
    assert result["scores"]["real:2x3"] == pytest.approx([sum(r) / 3 for r in repeats])
    assert result["proxies"]["real:2x3"]["steps"] == 6
    columns = list(zip(*repeats, strict=True))
    pairs = [spearman(columns[i], columns[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    agreement = result["repeat_agreement"]["real:2x3"]
    assert agreement == pytest.approx(sum(pairs) / 3)
    printed = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    line = "real:2x3: two of its single learners rank the architectures alike to Spearman "
    assert line + f"{agreement:.3f}" in printed


def test_real_batch_size_is_used_and_gets_its_own_score_cache(tmp_path: Path, mnist) -> None:
    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set, scoring_study_name
    from gtnas.analysis.truthset import load_truth

    path = tmp_path / "toy-set.json"
    _write_truth(path, n=2)
    truth = load_truth(path)
    given = ScoringOptions(real_lr=0.05, real_batch_size=16, threads=1)
    default = scoring_study_name(truth, "real:2", "tiny", ScoringOptions(real_lr=0.05))
    name = scoring_study_name(truth, "real:2", "tiny", given)
    assert name == default + "-b16"
    # zero-cost and gtn proxies do not train on real batches: their caches are shared
    assert scoring_study_name(truth, "synflow", "tiny", given) == scoring_study_name(
        truth, "synflow", "tiny", ScoringOptions()
    )
    options = replace(given, blueprint="tiny", eval_examples=100)
    plain = replace(options, real_batch_size=None)
    score_truth_set(truth, ["params"], tmp_path / "out", plain)
    # with a batch size given, params reads its cache scored without one (no conflict)
    scores, _ = score_truth_set(truth, ["real:2", "params"], tmp_path / "out", options).values()
    assert scores.study == name and None not in scores.scores
    study = Study.open(name, default_storage(tmp_path / "out"), config=None, decision_sizes={})
    assert study.config["real_batch_size"] == 16
    # the cache is not reused for learners scored on another number of validation images
    with pytest.raises(ConfigError, match="eval_examples=100, not 50"):
        score_truth_set(truth, ["real:2"], tmp_path / "out", replace(options, eval_examples=50))
    with pytest.raises(ConfigError, match="--real-batch-size"):
        ScoringOptions(real_batch_size=0)
    with pytest.raises(ConfigError, match="--eval-examples"):
        ScoringOptions(eval_examples=0)


def test_rank_average_by_hand() -> None:
    # ranks (1 = lowest): a = [1.5, 1.5, 3] (a tie), b = [2, 3, 1]; the mean of the two
    assert list(rank_average([[1.0, 1.0, 5.0], [0.2, 0.3, 0.1]])) == [1.75, 2.25, 2.0]
    a = ProxyScores("params", [3.0, 1.0, None, 2.0], seconds=0.5, steps=None)
    b = ProxyScores("synflow", [10.0, 30.0, 7.0, 20.0], seconds=2.0, steps=128)
    both = combine("rankavg:params+synflow", [a, b])
    # over the three both scored: params ranks [3, 1, 2], synflow ranks [1, 3, 2]
    assert both.scores == [2.0, 2.0, None, 2.0]
    assert (both.seconds, both.steps, both.proxy) == (2.5, 128, "rankavg:params+synflow")
    plain, combinations = parse_proxies(["gtn:128", "rankavg:gtn:128+synflow", "synflow"])
    assert plain == ["gtn:128", "synflow"]
    assert combinations == {"rankavg:gtn:128+synflow": ["gtn:128", "synflow"]}


def test_repeated_proxy_scores_by_hand() -> None:
    # three learners per architecture; architecture 2 not scored
    repeats = [[0.1, 0.3, 0.2], [0.4, 0.1, 0.3], None, [0.9, 0.8, 0.4], [0.2, 0.2, 0.9]]
    means = [None if r is None else sum(r) / 3 for r in repeats]
    scores = ProxyScores("gtn:32x3", means, seconds=3.0, steps=96, repeats=repeats)
    two = scores.first_repeats(2)
    assert (two.proxy, two.steps, two.seconds) == ("gtn:32x2", 64, 2.0)
    assert two.scores == pytest.approx([0.2, 0.25, None, 0.85, 0.2])
    one = scores.first_repeats(1)
    assert (one.proxy, one.scores) == ("gtn:32", [0.1, 0.4, None, 0.9, 0.2])
    with pytest.raises(ValueError, match=r"1\.\.3"):
        scores.first_repeats(4)
    # mean pairwise Spearman of the learners over the four scored architectures
    columns = list(zip(*[r for r in repeats if r is not None], strict=True))
    pairs = [spearman(columns[0], columns[1]), spearman(columns[0], columns[2]),
             spearman(columns[1], columns[2])]  # fmt: skip
    assert scores.repeat_agreement() == pytest.approx(sum(pairs) / 3)
    assert one.repeat_agreement() is None
    assert (
        ProxyScores("synflow", [1.0, 2.0, 3.0], seconds=0.1, steps=None).repeat_agreement() is None
    )


def test_correlate_leaves_out_what_the_proxy_did_not_score() -> None:
    scores = ProxyScores("p", [0.1, None, 0.3, 0.2, 0.5, 0.4], seconds=1.0, steps=None)
    truth = [0.5, 0.9, 0.7, 0.6, 0.8, 0.95]
    result = correlate(scores, truth, resamples=50)
    kept = ([0.1, 0.3, 0.2, 0.5, 0.4], [0.5, 0.7, 0.6, 0.8, 0.95])
    assert result.missing == 1 and result.correlation.n == 5
    assert result.correlation.spearman_all == pytest.approx(spearman(*kept))
    # top half by proxy: scores 0.5, 0.4, 0.3 -> truths 0.8, 0.95, 0.7
    assert result.correlation.n_top == 3
    assert result.correlation.spearman_top == pytest.approx(spearman([0.5, 0.4, 0.3],
                                                                     [0.8, 0.95, 0.7]))  # fmt: skip


def test_speedup_interpolation_by_hand() -> None:
    real = [CurvePoint(16, 1.0, 0.2), CurvePoint(32, 2.0, 0.4),
            CurvePoint(64, 4.0, 0.6), CurvePoint(128, 8.0, 0.8)]  # fmt: skip
    gtn = CurvePoint(16, 0.5, 0.5)
    # 0.5 is halfway from 0.4 (K=32) to 0.6 (K=64): K = 32 * 2**0.5, seconds = 2 * 2**0.5
    result = compute_speedup(real, gtn, meta_seconds=100.0, evaluations=50)
    assert result.match.bound == INTERPOLATED
    assert result.match.steps == pytest.approx(32 * math.sqrt(2))
    assert result.steps_factor == pytest.approx(2 * math.sqrt(2))  # 45.25 / 16
    assert result.seconds_factor == pytest.approx(4 * math.sqrt(2))  # 2.83 s / 0.5 s
    assert result.amortised_gtn_seconds == pytest.approx(2.5)  # 0.5 + 100 / 50
    assert result.amortised_seconds_factor == pytest.approx(2 * math.sqrt(2) / 2.5)
    # the first crossing counts: 0.2 -> 0.6 crosses 0.5 three quarters of the way to K=32
    wiggly = [CurvePoint(16, 1.0, 0.2), CurvePoint(32, 2.0, 0.6), CurvePoint(64, 4.0, 0.4)]
    assert match_curve(wiggly, 0.5).steps == pytest.approx(16 * 2**0.75)
    assert match_curve(real, 0.1) == match_curve(real, 0.2)
    assert match_curve(real, 0.1).bound == AT_MOST and match_curve(real, 0.1).steps == 16
    assert match_curve(real, 0.9).bound == AT_LEAST and match_curve(real, 0.9).steps == 128
    assert compute_speedup(real, gtn).amortised_seconds_factor is None  # meta time unknown


def test_speedup_proxies_name_the_curve_and_reject_bad_input() -> None:
    real, others, asked = speedup_proxies([64, 16, 32, 16], "gtn:128")
    assert real == ["real:16", "real:32", "real:64"]
    # the free floor is always on the axes
    assert others == ["synflow", "naswot", "rankavg:gtn:128+synflow", "params", "flops"]
    assert asked == [*real, "gtn:128", *others]
    assert speedup_proxies([1, 2], "gtn:3", ["gtn:3", "params"])[2] == [
        "real:1", "real:2", "gtn:3", "params", "flops"
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="at least two positive K"):
        speedup_proxies([16], "gtn:128")
    with pytest.raises(ConfigError, match="at least two positive K"):
        speedup_proxies([0, 16], "gtn:128")
    with pytest.raises(ConfigError, match="gtn:K proxy"):
        speedup_proxies([16, 32], "real:128")


def test_teacher_meta_seconds_is_the_last_elapsed(tmp_path: Path) -> None:
    assert teacher_meta_seconds(tmp_path) is None
    lines = [{"iteration": 1, "elapsed": 3.5}, {"iteration": 2, "elapsed": 7.25}, {"note": 1}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert teacher_meta_seconds(tmp_path) == 7.25


def test_a_calibrated_teachers_cost_includes_its_calibration_trainings(tmp_path: Path) -> None:
    from gtnas.analysis.truthset import load_truth
    from gtnas.config import config_to_dict
    from gtnas.meta.run import TeachRunConfig

    document = _write_truth(tmp_path / "t.json", seeds=True)
    truth = load_truth(tmp_path / "t.json")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"iteration": 1, "elapsed": 100.0}) + "\n")
    (run / "config.json").write_text(json.dumps(config_to_dict(TeachRunConfig())))
    assert teacher_cost_seconds(run, truth) == 100.0  # not calibrated: meta-training alone
    first = document["records"][:3]  # seconds 10, 11, 12 per training, 2 seeds each
    calibration = {r["genotype"]: r["val_accuracy"] for r in first}
    config = config_to_dict(TeachRunConfig(calibration=calibration))
    (run / "config.json").write_text(json.dumps(config))
    assert teacher_cost_seconds(run, truth) == pytest.approx(100.0 + 2 * (10 + 11 + 12))
    assert teacher_cost_seconds(run) == 100.0  # without the set, its trainings are unknown


def _assert_png(path: Path) -> None:
    assert_picture(path, min_width=101, min_height=101)


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    from gtnas.reports.proxy_plots import plot_rank_scatter, plot_speedup

    scores = ProxyScores("gtn:128", [float(i % 7) for i in range(30)], seconds=1.0, steps=128)
    truth = [0.9 + 0.003 * ((5 * i) % 30) for i in range(30)]
    correlation = correlate(scores, truth, resamples=20)
    _assert_png(plot_rank_scatter(scores.scores, truth, tmp_path / "s.png",  # type: ignore[arg-type]
                                  correlation=correlation))  # fmt: skip
    real = [CurvePoint(16, 1.0, 0.2), CurvePoint(64, 4.0, 0.6), CurvePoint(256, 16.0, 0.7)]
    gtn = CurvePoint(32, 0.6, 0.5)
    result = compute_speedup(real, gtn, meta_seconds=60.0, evaluations=100)
    others = {
        "synflow": CurvePoint(0, 0.01, 0.3),
        "rankavg:gtn:32+synflow": CurvePoint(0, 0.61, 0.55),
    }
    _assert_png(plot_speedup(tmp_path / "p.png", real=real, gtn=("gtn:32", gtn), others=others,
                             speedup=result))  # fmt: skip


def test_cli_bad_inputs_are_one_line_errors(tmp_path: Path, capsys) -> None:
    truth = tmp_path / "set.json"
    _write_truth(truth, n=4)
    base, missing = ["--out", str(tmp_path / "out")], str(tmp_path / "no.json")
    cases = (
        (["rank-corr", "--truth", missing, "--proxy", "naswot"], "does not exist"),
        (["rank-corr", "--truth", str(truth), "--proxy", "flopz"], "unknown proxy 'flopz'"),
        (["rank-corr", "--truth", str(truth), "--proxy", "rankavg:params"], "two or more"),
        (["rank-corr", "--truth", str(truth), "--proxy", "gtn:8"], "need a trained teacher"),
        (["rank-corr", "--truth", str(truth), "--proxy", "params", "--truth-metric", "best"],
         "--truth-metric must be test or val"),
        (["speedup", "--truth", str(truth), "--teacher", str(tmp_path), "--ks", "8,x"],
         "--ks expects integers"),
        (["speedup", "--truth", str(truth), "--teacher", str(tmp_path), "--proxy", "nope"],
         "unknown proxy 'nope'"),
        (["speedup", "--truth", str(truth), "--teacher", str(tmp_path), "--measure", "pearson"],
         "--measure must be one of"),
        (["rank-corr", "--truth", str(truth), "--proxy", "params", "--top", "0"],
         "--top must be a fraction"),
    )  # fmt: skip
    for args, expected in cases:
        assert main([*args, *base]) == 2, args
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err


TEACHER = [
    "teach", "train", "--learner", "nb201", "--blueprint", "tiny", "--inner-steps", "3",
    "--batch-size", "16", "--iterations", "2", "--device", "cpu", "--quiet",
    "--set", "train_subset=1000", "--set", "teacher_options.generator.noise_dim=8",
    "--set", "teacher_options.generator.hidden=16", "--set", "teacher_options.generator.channels=8",
    "--set", "teacher_options.generator.mid_channels=4", "--set", "meta.eval_every=2",
    "--set", "meta.eval_examples=200",
]  # fmt: skip


@pytest.mark.slow
def test_speedup_end_to_end_at_toy_size(tmp_path: Path, mnist, one_thread, capsys) -> None:
    teacher, truth, out = tmp_path / "teacher", tmp_path / "toy.json", tmp_path / "out"
    assert main([*TEACHER, "--out", str(teacher)]) == 0
    document = _write_truth(truth, n=6, seeds=True)
    args = ["speedup", "--truth", str(truth), "--teacher", str(teacher), "--ks", "2,4",
            "--gtn", "gtn:3", "--proxy", "params", "--proxy", "rankavg:gtn:3+params",
            "--blueprint", "tiny", "--real-lr", "0.05", "--real-batch-size", "16",
            "--eval-examples", "150", "--out", str(out),
            "--resamples", "50", "--threads", "1", "--quiet"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "speedup-toy-test.json").read_text())
    # the batch size and validation images reach the studies (real:K's cache is named by both)
    real2 = Study.open(
        result["studies"]["real:2"], default_storage(out), config=None, decision_sizes={}
    )
    assert result["studies"]["real:2"].endswith("-lr0.05-b16")
    assert real2.config["real_batch_size"] == 16 and real2.config["eval_examples"] == 150
    assert set(result["proxies"]) == {
        "real:2", "real:4", "gtn:3", "params", "flops", "rankavg:gtn:3+params"
    }  # fmt: skip
    speedup = result["speedup"]
    assert speedup["gtn_steps"] == 3 and speedup["evaluations"] == 6
    assert speedup["speedup_steps"] == pytest.approx(speedup["real_steps_at_match"] / 3)
    assert speedup["meta_training_seconds"] == teacher_meta_seconds(teacher) > 0
    assert speedup["gtn_correlation"] == result["proxies"]["gtn:3"]["spearman_top"]
    assert result["info"]["real:2"]["real_lr"] == 0.05
    _assert_png(out / "speedup-toy-test.png")
    # the noise ceiling and the free floor beside every proxy
    from scipy import stats

    first = [r["seeds"][0]["test_accuracy"] for r in document["records"]]
    second = [r["seeds"][1]["test_accuracy"] for r in document["records"]]
    ceiling = result["ceiling"]
    assert ceiling["n"] == 6 and ceiling["seeds"] == [0, 1]
    assert ceiling["spearman_all"] == pytest.approx(stats.spearmanr(first, second).statistic)
    gtn = result["proxies"]["gtn:3"]
    assert result["of_ceiling"]["gtn:3"]["spearman_all"] == pytest.approx(
        gtn["spearman_all"] / for_the_mean(ceiling["spearman_all"], "spearman_all")
    )
    floor = max(result["proxies"][p]["spearman_top"] for p in ("params", "flops"))
    assert result["floor"]["spearman_top"] == floor
    assert result["beats_floor"]["gtn:3"]["spearman_top"] == (gtn["spearman_top"] > floor)
    printed = capsys.readouterr().out
    assert "noise" in printed and "(mean of seeds 0, 1)" in printed  # the table's first row
    # a rank average with a gtn part (nb201's default's form), from the same cached scores:
    # its seconds and steps are its parts', its parts placed beside it
    combined = "rankavg:gtn:3+params"
    at = args.index("--gtn") + 1
    assert main([*args[:at], combined, *args[at + 1 :]]) == 0
    again = json.loads((out / "speedup-toy-test.json").read_text())
    assert again["speedup"]["gtn_steps"] == 3
    assert again["speedup"]["gtn_correlation"] == result["proxies"][combined]["spearman_top"]
    parts = (
        result["proxies"]["gtn:3"]["seconds_per_evaluation"]
        + result["proxies"]["params"]["seconds_per_evaluation"]
    )
    assert again["proxies"][combined]["seconds_per_evaluation"] == pytest.approx(parts)
    assert main([*args[:at], "rankavg:params+synflow", *args[at + 1 :]]) == 2


def test_a_blueprint_given_as_fields_gets_its_own_score_cache(tmp_path: Path) -> None:
    from gtnas.analysis.rankcorr import ScoringOptions, scoring_study_name
    from gtnas.analysis.truthset import load_truth

    path = tmp_path / "truth.json"
    _write_truth(path)
    truth = load_truth(path)
    options = ScoringOptions()
    preset = scoring_study_name(truth, "synflow", "tiny", options)
    fields = scoring_study_name(truth, "synflow", {"channels": 4, "head_pool": 7}, options)
    other = scoring_study_name(truth, "synflow", {"channels": 4, "head_pool": 1}, options)
    assert "-tiny-" in preset and len({preset, fields, other}) == 3
    assert fields == scoring_study_name(truth, "synflow", {"head_pool": 7, "channels": 4}, options)


def test_a_grown_truth_set_is_scored_only_for_what_it_gained(tmp_path: Path, mnist) -> None:
    """A build still under way grows its file; the score caches are named by its sample, so
    the next rank-corr scores only the added architectures."""
    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.truthset import load_truth

    path, out = tmp_path / "growing.json", tmp_path / "out"
    document = _write_truth(path, n=6)
    whole = dict(document)
    path.write_text(json.dumps({**document, "records": document["records"][:4]}))
    options = ScoringOptions(blueprint="tiny", threads=1)
    scored: list[str] = []
    hooks = {"result": lambda record: scored.append(record.genotype)}
    first = score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)["params"]
    assert len(scored) == 4
    path.write_text(json.dumps(whole))
    grown = score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)["params"]
    assert len(scored) == 6 and scored[4:] == [r["genotype"] for r in whole["records"][4:]]
    assert grown.study == first.study and grown.scores[:4] == first.scores
    assert grown.scores == _parameters([r["genotype"] for r in whole["records"]])


def test_architectures_inserted_mid_file_are_scored_once_each(tmp_path: Path, mnist) -> None:
    """Two build workers finish out of sample order, so a grown file can hold a new
    architecture between old ones: the cache replays what it asked and scores the new one,
    each architecture once, with no replay warning."""
    import warnings

    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.truthset import load_truth

    path, out = tmp_path / "growing.json", tmp_path / "out"
    document = _write_truth(path, n=6)
    records = document["records"]
    first_part = [records[0], records[1], records[3], records[5]]  # 2 and 4 still training
    path.write_text(json.dumps({**document, "records": first_part}))
    options = ScoringOptions(blueprint="tiny", threads=1)
    scored: list[str] = []
    hooks = {"result": lambda record: scored.append(record.genotype)}
    score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)
    path.write_text(json.dumps(document))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "replayed proposals differ" would fail here
        grown = score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)
    assert sorted(scored) == sorted(r["genotype"] for r in records)  # each once
    assert grown["params"].scores == _parameters([r["genotype"] for r in records])


def test_a_cut_off_scoring_is_finished_and_nothing_else_is_scored(tmp_path: Path, mnist) -> None:
    """A scoring killed mid-evaluation leaves a RUNNING trial: the next scoring re-runs it
    and scores the set's new architectures, and later ones score nothing; never an
    architecture outside the set (the budget once counted the cut-off record as well as its
    re-run, and each later call drew one more random architecture to fill it)."""
    import sqlite3

    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.truthset import load_truth

    path, out = tmp_path / "growing.json", tmp_path / "out"
    document = _write_truth(path, n=6)
    records = document["records"]
    path.write_text(json.dumps({**document, "records": records[:4]}))
    options = ScoringOptions(blueprint="tiny", threads=1)
    scored: list[str] = []
    hooks = {"result": lambda record: scored.append(record.genotype)}
    score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)
    # as a killed process leaves it: the last evaluation RUNNING, without a value
    with sqlite3.connect(out / "studies.db") as db:
        (trial_id,) = db.execute("select max(trial_id) from trials").fetchone()
        db.execute("update trials set state = 'RUNNING' where trial_id = ?", (trial_id,))
        db.execute("delete from trial_values where trial_id = ?", (trial_id,))
    path.write_text(json.dumps(document))
    for _ in range(3):
        grown = score_truth_set(load_truth(path), ["params"], out, options, hooks=hooks)
    genotypes = [r["genotype"] for r in records]
    assert sorted(scored) == sorted([*genotypes, records[3]["genotype"]])  # the cut one twice
    assert grown["params"].scores == _parameters(genotypes)
