"""Scores kept as JSON archives: a fresh machine (no studies) reads them instead of scoring."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gtnas.analysis.score_archive import (
    ArchivedScore,
    ScoreArchive,
    archive_path,
    read_archive,
    write_archive,
)
from gtnas.errors import GtnasError
from test_rank_corr import _parameters, _write_truth


def test_an_archive_round_trips_the_lowest_score_and_repeats(tmp_path: Path) -> None:
    records = {"a": ArchivedScore(0.5, 1.5, [0.4, 0.6]), "b": ArchivedScore(-math.inf, None)}
    archive = ScoreArchive("s", "real:2x2", 100, records, real_lr={"lr": 0.05, "seconds": 3.0})
    write_archive(tmp_path, archive)
    text = archive_path(tmp_path, "s").read_text()
    assert "Infinity" not in text  # strict JSON
    back = read_archive(tmp_path, "s", "real:2x2", 100)
    assert back == archive
    assert read_archive(tmp_path, "other", "params", 100).records == {}  # none yet: empty
    with pytest.raises(GtnasError, match="eval_examples=100, not 200"):
        read_archive(tmp_path, "s", "real:2x2", 200)


def test_a_bad_archive_names_the_file_and_the_fix(tmp_path: Path) -> None:
    archive_path(tmp_path, "s").write_text("{not json")
    with pytest.raises(GtnasError, match=r"s\.json is not valid JSON.*delete it"):
        read_archive(tmp_path, "s", "params", 100)
    write_archive(tmp_path, ScoreArchive("t", "params", 100, {"a": ArchivedScore(1.0, 0.1)}))
    archive_path(tmp_path, "s").write_text(archive_path(tmp_path, "t").read_text())
    with pytest.raises(GtnasError, match=r"holds study t .* not s"):
        read_archive(tmp_path, "s", "params", 100)
    archive_path(tmp_path, "s").write_text(json.dumps({"format": "other"}))
    with pytest.raises(GtnasError, match="not a gtnas score archive"):
        read_archive(tmp_path, "s", "params", 100)


def test_a_fresh_machine_scores_only_what_the_archive_lacks(tmp_path: Path, mnist) -> None:
    """Four architectures scored on one machine (its studies, and the archive); the set grows
    to six; a second machine with the archive alone scores the two new ones."""
    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.truthset import load_truth

    path, archive = tmp_path / "growing.json", tmp_path / "scores"
    document = _write_truth(path, n=6)
    path.write_text(json.dumps({**document, "records": document["records"][:4]}))
    options = ScoringOptions(blueprint="tiny", threads=1, archive=str(archive))
    scored: list[str] = []
    hooks = {"result": lambda record: scored.append(record.genotype)}
    first = score_truth_set(load_truth(path), ["params"], tmp_path / "one", options, hooks=hooks)
    assert len(scored) == 4 and [p.name for p in archive.iterdir()] == [
        f"{first['params'].study}.json"
    ]
    path.write_text(json.dumps(document))
    grown = score_truth_set(load_truth(path), ["params"], tmp_path / "two", options, hooks=hooks)
    genotypes = [r["genotype"] for r in document["records"]]
    assert scored[4:] == genotypes[4:]  # the new ones only
    assert grown["params"].scores == _parameters(genotypes)
    assert None not in grown["params"].costs and grown["params"].seconds is not None
    kept = read_archive(archive, first["params"].study, "params", options.eval_examples)
    assert set(kept.records) == set(genotypes)


def test_a_tuned_learning_rate_and_each_learner_come_back_from_the_archive(
    tmp_path: Path, mnist, one_thread
) -> None:
    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.truthset import load_truth

    path = tmp_path / "toy-set.json"
    _write_truth(path, n=2)
    truth = load_truth(path)
    options = ScoringOptions(blueprint="tiny", threads=1, eval_examples=100,
                             archive=str(tmp_path / "scores"))  # fmt: skip
    first = score_truth_set(truth, ["real:2x2"], tmp_path / "one", options)["real:2x2"]
    assert first.info.get("real_lr") is not None and first.repeats and None not in first.repeats
    scored: list[str] = []
    hooks = {"result": lambda record: scored.append(record.genotype)}
    again = score_truth_set(truth, ["real:2x2"], tmp_path / "two", options, hooks=hooks)
    again = again["real:2x2"]
    assert scored == []  # nothing trained, the learning rate not tuned again
    assert (again.scores, again.repeats, again.info) == (first.scores, first.repeats, first.info)


def test_rank_corr_keeps_its_archive(tmp_path: Path, mnist, capsys) -> None:
    from gtnas.cli.app import main

    path = tmp_path / "toy-set.json"
    _write_truth(path, n=4)
    args = ["rank-corr", "--truth", str(path), "--proxy", "params", "--blueprint", "tiny",
            "--threads", "1", "--resamples", "20", "--quiet",
            "--archive", str(tmp_path / "scores")]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    files = sorted(p.name for p in (tmp_path / "scores").iterdir())
    assert len(files) == 2 and any("-params-" in f for f in files)  # params and flops (floor)
    assert main([*args, "--out", str(tmp_path / "two")]) == 0
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == files
