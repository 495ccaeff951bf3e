"""The truth build's time-left estimate: each architecture priced by its FLOPs at the build's
median seconds per FLOP, times its trainings, over the workers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gtnas.search.truth_build import TruthConfig, sample
from gtnas.search.truth_pace import network_flops, time_left
from gtnas.spaces import create_space

REPO = Path(__file__).resolve().parents[1]


def test_time_left_by_hand() -> None:
    config = TruthConfig(dataset="mnist", n=6, seeds=2, seeds_for=4, workers=2)
    space = create_space("nb201")
    genotypes = sample(config, space)
    flops = {g: 1000.0 * (i + 1) for i, g in enumerate(genotypes)}
    # three finished at 2, 3 and 10 s per 1000 FLOPs: the median rate is 3 s per 1000
    finished = {genotypes[0]: (2.0, 1000.0), genotypes[2]: (9.0, 3000.0),
                genotypes[5]: (60.0, 6000.0)}  # fmt: skip
    left = time_left(config, space, finished, flops.__getitem__, failed={genotypes[1]})
    # left: index 3 (2 seeds, 4000 FLOPs) and index 4 (past seeds_for: 1 seed, 5000 FLOPs)
    assert left is not None
    assert (left.architectures, left.trainings) == (2, 3)
    assert left.seconds == pytest.approx((4 * 3 * 2 + 5 * 3 * 1) / 2)
    # too few finished to trust a rate
    assert time_left(config, space, dict(list(finished.items())[:2]), flops.__getitem__) is None


def test_network_flops_is_what_the_build_recorded() -> None:
    """Against the FLOPs the long-horizon build recorded for its first architectures."""
    path = REPO / "truth" / "fashion-mnist-nb201-n100-e7-search-head3-s2.json"
    document = json.loads(path.read_text())
    config = TruthConfig(dataset="fashion-mnist", blueprint="search-head3")
    flops_of = network_flops(config, (1, 28, 28), 10)
    for record in document["records"][:3]:
        assert flops_of(record["genotype"]) == record["flops"]


def test_the_build_prints_its_time_left(tmp_path: Path, mnist, capsys) -> None:
    from gtnas.cli.app import main
    from test_truth import TOY_CLI

    args = [a for a in TOY_CLI if a != "--quiet"]
    assert main(["truth", "build", *args, "--n", "5", "--out", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 5
    assert all("left" not in line for line in lines[:2])  # fewer than 3 finished: no rate
    assert "left (2 architectures, 2 trainings, priced by their FLOPs)" in lines[2]
    assert "left (1 architecture, 1 training," in lines[3] and "left" not in lines[4]
    # a larger build continued: where it stands is printed before any new training
    args = ["truth", "build", "--study", "truth-mnist-nb201-n5-e1-tiny", "--n", "7",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.index("left (2 architectures, 2 trainings") < out.index("[6/7]")


def test_a_smaller_build_samples_the_first_architectures_of_a_larger_one() -> None:
    """What `--n 40` relies on to build the other sets' first 40 (truth/README.md)."""
    space = create_space("nb201")
    small = TruthConfig(dataset="mnist", n=4)
    assert sample(small, space) == sample(dataclasses.replace(small, n=10), space)[:4]


def test_a_session_on_another_machine_sets_its_own_pace() -> None:
    """A training of this session at 4x the earlier seconds per FLOP: what is left is priced
    at this session's rate, not at the median of all (machines of one name ran 5x apart)."""
    from gtnas.search.truth_pace import BuildPace

    config = TruthConfig(dataset="mnist", n=10, seeds=1, workers=1)
    genotypes = sample(config, create_space("nb201"))
    pace = BuildPace(config, lambda genotype: 100.0)
    for genotype in genotypes[:3]:
        pace.add({"genotype": genotype, "seconds": 100.0, "flops": 100.0})
    before = pace.left()
    assert before is not None and before.seconds == pytest.approx(7 * 100.0)
    pace.add({"genotype": genotypes[3], "seconds": 400.0, "flops": 100.0}, now=True)
    assert pace.left().seconds == pytest.approx(6 * 400.0)  # this session's rate at once
    pace.add({"genotype": genotypes[4], "seconds": 200.0, "flops": 100.0}, now=True)
    assert pace.left().seconds == pytest.approx(5 * 300.0)  # the median of this session's


def test_a_continued_build_starts_at_its_latest_pace() -> None:
    """Before this session's first training, the latest trainings (the last session's machine)
    price what is left, not the median of every machine the build ran on."""
    from gtnas.search.truth_pace import RECENT, BuildPace

    config = TruthConfig(dataset="mnist", n=20, seeds=1, workers=1)
    genotypes = sample(config, create_space("nb201"))
    pace = BuildPace(config, lambda genotype: 100.0)
    for genotype in genotypes[:8]:  # a fast machine: 1 s per FLOP
        pace.add({"genotype": genotype, "seconds": 100.0, "flops": 100.0})
    for k, genotype in enumerate(genotypes[8 : 8 + RECENT]):  # then a slower one: 3-3.4 s
        pace.add({"genotype": genotype, "seconds": 300.0 + 10 * k, "flops": 100.0})
    left = pace.left()
    assert left is not None and left.trainings == 20 - 8 - RECENT
    assert left.seconds == pytest.approx(left.trainings * 320.0)  # the median of the latest
    assert "left (7 architectures" in pace.describe()
