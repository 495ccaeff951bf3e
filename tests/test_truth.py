"""Ground-truth builds at toy size: nb201 at the tiny blueprint, 256 MNIST images, 1 epoch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gtnas.analysis.truthset import TRUTH_FORMAT, load_truth, truth_document, write_truth
from gtnas.cli.app import main
from gtnas.config import config_to_dict
from gtnas.search.executor import ContextSpec, build_context
from gtnas.search.proxies import create_proxy
from gtnas.search.proxies.final_training import (
    RECIPE_KEY,
    RUNS_KEY,
    default_truth_recipe,
    run_folder_name,
)
from gtnas.search.truth_build import TruthConfig, build_truth, sample
from gtnas.seeding import make_generator
from gtnas.spaces import create_space
from gtnas.training.trainer import RESULT_FILE, train_network

TOY = TruthConfig(
    space="nb201",
    blueprint="tiny",
    n=4,
    epochs=1,
    train_subset=None,
    seeds=1,
    workers=1,
    threads=1,
    final=dataclasses.replace(default_truth_recipe(), batch_size=64),
)


@pytest.fixture
def toy(idx_folder, data_files) -> TruthConfig:
    """TOY on a small IDX data set: 200 training images of 8x8 (3 steps of 64), 40 for
    validation, 60 for test, so a training takes a fraction of a second."""
    folder, _ = idx_folder(arrays=data_files.small_arrays(240, 60, (8, 8)))
    return dataclasses.replace(TOY, dataset=f"idx:{folder}")


TOY_CLI = [
    "--space", "nb201", "--blueprint", "tiny", "--epochs", "1", "--train-subset", "256",
    "--seeds", "1", "--workers", "1", "--threads", "1", "--set", "final.val_subset=500", "--quiet",
]  # fmt: skip


def _results(study) -> dict[str, tuple[float, float]]:
    proxy = "train:1"
    return {
        r.genotype: (r.scores[proxy], r.scores[f"{proxy}/test_accuracy"]) for r in study.completed()
    }


def _weights(runs: Path) -> dict[str, dict[str, list]]:
    """Every run's final weights (as lists, so == compares them exactly)."""
    from safetensors.torch import load_file

    return {
        run.name: {k: v.tolist() for k, v in load_file(run / "model.safetensors").items()}
        for run in runs.iterdir()
    }


def test_build_stopped_and_resumed_trains_each_architecture_once(tmp_path: Path, toy) -> None:
    whole = build_truth(toy, tmp_path / "whole", name="set")
    assert len(whole.study.completed()) == 4

    out = tmp_path / "parts"
    first = build_truth(toy, out, name="set", stop_after=2)
    before = _results(first.study)
    assert len(before) == 2
    runs = first.folder / "train"
    finished = {p.name: (p / RESULT_FILE).stat().st_mtime_ns for p in runs.iterdir()}
    assert len(finished) == 2

    trained_now: list[str] = []
    resumed = build_truth(toy, out, name="set", on_result=lambda r: trained_now.append(r.genotype))
    assert resumed.progress.replay_mismatches == 0
    assert len(trained_now) == 2 and not set(trained_now) & set(before)  # only the missing two
    for name, stamp in finished.items():  # the first two runs were not touched
        assert (runs / name / RESULT_FILE).stat().st_mtime_ns == stamp
    # the interrupted set is the uninterrupted one: the same architectures, scores and weights
    assert _results(resumed.study) == _results(whole.study)
    assert _weights(runs) == _weights(whole.folder / "train") and len(_weights(runs)) == 4
    for run in runs.iterdir():  # finished runs keep results and weights, not checkpoints
        assert (run / "result.json").is_file() and not (run / "checkpoints").exists()


def _toy_context(config: TruthConfig, root: Path):
    spec = ContextSpec(
        dataset=config.dataset,
        space="nb201",
        space_options={},
        blueprint="tiny",
        extra={RECIPE_KEY: config_to_dict(config.recipe()), RUNS_KEY: str(root)},
    )
    return build_context(spec)


def test_a_training_cut_off_resumes_from_its_folder(tmp_path: Path, toy) -> None:
    proxy = create_proxy("train:1")
    context = _toy_context(toy, tmp_path / "cut")
    genotype = context.space.sample(make_generator(4))
    uninterrupted = proxy.score(genotype, _toy_context(toy, tmp_path / "whole"), seed=0)
    # a worker died after one of the three steps: its folder holds a step-1 checkpoint
    run_dir = tmp_path / "cut" / run_folder_name(context, genotype)
    config = proxy.recipe(context, 0)
    partial = train_network(
        context.space, genotype, context.dataset, config, run_dir, show_progress=False,
        stop_after_steps=1,
    )  # fmt: skip
    assert not partial.finished and (run_dir / "checkpoints").is_dir()
    resumed = proxy.score(genotype, context, seed=0)
    assert (resumed.score, resumed.details) == (
        uninterrupted.score, {**uninterrupted.details, **_timings(resumed.details)},
    )  # fmt: skip
    assert _weights(tmp_path / "cut") == _weights(tmp_path / "whole")  # bit for bit
    # a run that finished before its result was recorded is read back, not trained again
    stamp = (run_dir / RESULT_FILE).stat().st_mtime_ns
    again = proxy.score(genotype, context, seed=0)
    assert (again.score, again.details) == (resumed.score, resumed.details)
    assert (run_dir / RESULT_FILE).stat().st_mtime_ns == stamp


def _timings(details: dict) -> dict:
    return {k: v for k, v in details.items() if k.endswith("seconds")}


def test_train_proxy_details_and_name() -> None:
    proxy = create_proxy("train:3")
    assert proxy.name == "train:3" and proxy.epochs == 3  # type: ignore[attr-defined]
    assert TruthConfig(epochs=2).proxy == "train:2"
    recipe = TruthConfig(dataset="fashion-mnist", seed=7, train_subset=None).recipe()
    assert (recipe.dataset, recipe.seed, recipe.train_subset, recipe.epochs) == (
        "fashion-mnist", 7, None, 7,
    )  # fmt: skip
    assert TruthConfig().training_seeds == [0, 1] and TruthConfig().blueprint == "search-head3"
    assert recipe.eval_every_epochs > recipe.epochs  # validated once, after the last epoch


@pytest.mark.slow
def test_cli_build_export_schema_and_resume(tmp_path: Path, mnist, capsys) -> None:
    runs, path = tmp_path / "runs", tmp_path / "truth" / "toy.json"
    assert main(["truth", "build", *TOY_CLI, "--n", "2", "--out", str(runs)]) == 0
    name = "truth-mnist-nb201-n2-e1-tiny"
    assert name in capsys.readouterr().out
    assert main(["truth", "export", name, "--runs", str(runs), "--out", str(path)]) == 0
    document = json.loads(path.read_text())
    assert document["format"] == TRUTH_FORMAT
    for key in ("dataset", "space", "space_options", "blueprint", "epochs", "train_subset",
                "seed", "machine", "records"):  # fmt: skip
        assert key in document, key
    assert (document["dataset"], document["space"], document["blueprint"]) == (
        "mnist", "nb201", "tiny",
    )  # fmt: skip
    assert (document["epochs"], document["train_subset"], document["n"]) == (1, 256, 2)
    assert document["recipe"]["val_subset"] == 500 and document["machine"]["cores"] >= 1
    genotypes = [r["genotype"] for r in document["records"]]
    assert len(set(genotypes)) == 2 and all(g.startswith("nb201:|") for g in genotypes)
    for record in document["records"]:
        assert set(record) >= {"genotype", "val_accuracy", "test_accuracy", "seconds", "parameters"}
        assert 0 <= record["val_accuracy"] <= 1 and 0 <= record["test_accuracy"] <= 1
        assert record["seconds"] > 0 and record["parameters"] > 1000
    truth = load_truth(path)
    assert truth.genotypes() == genotypes and truth.name == "toy"
    assert truth.accuracies("test") == [r["test_accuracy"] for r in document["records"]]

    # the same command again trains nothing; a larger --n under --study adds the difference
    assert main(["truth", "build", *TOY_CLI, "--n", "2", "--out", str(runs)]) == 0
    assert "[" not in capsys.readouterr().out  # no architecture was trained
    args = ["truth", "build", "--study", name, "--n", "3", "--out", str(runs)]
    assert main(args) == 0
    from gtnas.search.truth_build import open_truth_study

    study, config = open_truth_study(name, f"sqlite:///{runs / 'studies.db'}")
    assert config.blueprint == "tiny" and config.epochs == 1
    grown = truth_document(study)
    assert [r["genotype"] for r in grown["records"]][:2] == genotypes
    assert len(grown["records"]) == 3
    assert "[3/3] nb201:|" in capsys.readouterr().out  # the one added, counted after the two


def test_cli_bad_truth_inputs_are_one_line_errors(tmp_path: Path, capsys) -> None:
    cases = (
        (["truth", "export", "nothing", "--runs", str(tmp_path / "none")], "no study storage"),
        (["truth", "build", "--out", str(tmp_path), "--set", "final.batch_sizee=3"], "batch_sizee"),
        (["truth", "build", "--out", str(tmp_path), "--space", "darts"], "unknown search space"),
        (["truth", "build", "--out", str(tmp_path), "--n", "0"], "n, epochs and workers"),
        (["truth", "build", "--out", str(tmp_path), "--dataset", "mnsit"], "unknown data set"),
    )
    for args, expected in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # refused before a study was made


def test_resuming_a_build_with_another_recipe_is_refused(tmp_path: Path, toy) -> None:
    from gtnas.errors import ConfigError

    runs = tmp_path / "runs"
    build_truth(dataclasses.replace(toy, n=1), runs, name="s")
    with pytest.raises(ConfigError, match="train_subset=None, not 128"):
        build_truth(dataclasses.replace(toy, n=1, train_subset=128), runs, name="s")
    with pytest.raises(ConfigError, match="proxy='train:1', not 'train:2'"):  # the epochs
        build_truth(dataclasses.replace(toy, n=1, epochs=2), runs, name="s")
    with pytest.raises(ConfigError, match="batch_size"):
        final = dataclasses.replace(toy.final, batch_size=32)
        build_truth(dataclasses.replace(toy, n=1, final=final), runs, name="s")


def test_load_truth_rejects_malformed_files(tmp_path: Path) -> None:
    from gtnas.errors import GtnasError

    header = {"format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201", "space_options": {},
              "blueprint": "search", "epochs": 1, "train_subset": None, "seed": 0}  # fmt: skip
    record = {"genotype": "nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
              "val_accuracy": 0.1, "test_accuracy": 0.1, "seconds": 1, "parameters": 9}  # fmt: skip
    cases = {
        "missing.json": (None, "does not exist"),
        "bad.json": ("{", "not valid JSON"),
        "other.json": ({"records": []}, "not a truth-set file"),
        "short.json": ({**header, "records": [record]}, "need at least 2"),
        "twice.json": ({**header, "records": [record, record]}, "twice"),
        "field.json": ({**header, "records": [{"genotype": "nb201:x"}] * 2}, "needs genotype"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(GtnasError, match=message):
            load_truth(path)


def test_list_strategy_proposes_the_list_then_samples() -> None:
    from gtnas.search.strategies import create_strategy
    from gtnas.spaces import create_space

    space = create_space("nb201")
    listed = [space.format(space.sample(make_generator(i))) for i in range(3)]

    def proposals(seed: int, genotypes: list[str]) -> list[str]:
        strategy = create_strategy("list", space, seed, {"genotypes": genotypes})
        return [space.format(strategy.ask()) for _ in range(6)]

    assert proposals(0, listed)[:3] == listed
    # past the list: seeded uniform samples, as from a list-less one
    assert proposals(0, listed)[3:] == proposals(0, [])[:3] != proposals(1, [])[:3]


def test_seeds_train_each_architecture_per_seed_and_the_first_ones_only(
    tmp_path: Path, toy
) -> None:
    config = dataclasses.replace(toy, n=3, seeds=2, seeds_for=2)
    build = build_truth(config, tmp_path / "runs", name="set")
    document = truth_document(build.study)
    assert document["format"] == TRUTH_FORMAT and document["seeds"] == [0, 1]
    assert document["complete"] and document["planned"] == 3 and document["failed"] == 0
    records = document["records"]
    assert [len(r["seeds"]) for r in records] == [2, 2, 1]  # seeds_for: the first two
    assert [r["genotype"] for r in records] == sample(config, create_space("nb201"))[:3]
    for record in records:
        seeds = record["seeds"]
        # the record is the mean of its seeds; each seed is its own run folder
        assert record["val_accuracy"] == pytest.approx(
            sum(s["val_accuracy"] for s in seeds) / len(seeds)
        )
        assert record["test_accuracy"] == pytest.approx(
            sum(s["test_accuracy"] for s in seeds) / len(seeds)
        )
        assert record["steps"] == 3 and record["flops"] > 0  # 200 images in batches of 64
    runs = sorted(p.name for p in (build.folder / "train").iterdir())
    assert len(runs) == 5 and sum(name.endswith("-s1") for name in runs) == 2
    # a seed's result is what `gtnas arch train` gives with that seed: seed 1 is not seed 0
    second = records[0]["seeds"][1]
    context = _toy_context(toy, tmp_path / "alone")
    genotype = context.space.parse(records[0]["genotype"].partition(":")[2])
    alone = train_network(
        context.space, genotype, context.dataset, dataclasses.replace(config.recipe(), seed=1),
        tmp_path / "alone" / "run", show_progress=False,
    )  # fmt: skip
    assert (alone.val_accuracy, alone.test_accuracy) == (
        second["val_accuracy"], second["test_accuracy"],
    )  # fmt: skip
    truth = load_truth(write_truth(document, tmp_path / "set.json"))
    assert truth.training_seeds() == [0, 1] and truth.steps == 3
    indices, first, other = truth.seed_pairs("test")
    assert list(indices) == [0, 1]
    assert list(first) == [r["seeds"][0]["test_accuracy"] for r in records[:2]]
    assert list(other) == [r["seeds"][1]["test_accuracy"] for r in records[:2]]
    assert truth.accuracies("val", seed=1)[2] != truth.accuracies("val", seed=1)[2]  # NaN


def test_a_build_continues_from_its_exported_file_on_another_machine(tmp_path: Path, toy) -> None:
    config = dataclasses.replace(toy, seeds=2)
    whole = build_truth(config, tmp_path / "whole", name="set")
    path = tmp_path / "truth" / "set.json"

    def export(study) -> None:
        write_truth(truth_document(study), path)

    first = build_truth(config, tmp_path / "here", name="set", stop_after=2, on_update=export)
    partial = json.loads(path.read_text())
    assert partial["n"] == 2 and partial["complete"] is False
    # a fresh clone: no study, no run folders, only the file
    trained: list[str] = []
    there = build_truth(
        config, tmp_path / "there", name="set", adopt=partial, on_update=export,
        on_result=lambda r: trained.append(r.genotype),
    )  # fmt: skip
    assert there.progress.replay_mismatches == 0
    assert len(trained) == 2 and not set(trained) & set(_results(first.study))
    assert _untimed(truth_document(there.study)) == _untimed(truth_document(whole.study))
    assert json.loads(path.read_text())["complete"] is True
    # adopting again changes nothing (the study holds the results now)
    again = build_truth(config, tmp_path / "there", name="set", adopt=partial)
    assert len(again.study.completed()) == 4
    # a file continued on several machines names each once (it once listed one per session)
    other = {**partial["machine"], "cpu": "another"}
    visited = {**partial, "other_machines": [other, partial["machine"], other]}
    elsewhere = build_truth(config, tmp_path / "elsewhere", name="set", adopt=visited)
    assert truth_document(elsewhere.study)["other_machines"] == [other]


def test_each_seed_says_which_machine_trained_it(tmp_path: Path, toy, monkeypatch) -> None:
    import gtnas.search.truth_build as truth_build

    config = dataclasses.replace(toy, seeds=2)
    path = tmp_path / "set.json"
    first = build_truth(config, tmp_path / "here", name="set", stop_after=2)
    write_truth(truth_document(first.study), path)
    here = truth_build.machine_description(config, 1)
    there = {**here, "cpu": "another"}
    monkeypatch.setattr(truth_build, "machine_description", lambda *_: there)
    # resumed twice elsewhere, from the file: the two later sessions are one machine
    build_truth(config, tmp_path / "there", name="set", adopt=json.loads(path.read_text()),
                stop_after=1)  # fmt: skip
    second = build_truth(config, tmp_path / "there", name="set")
    document = truth_document(second.study)
    assert document["machine"] == here and document["other_machines"] == [there]
    trained_on = [[s["machine"] for s in r["seeds"]] for r in document["records"]]
    assert trained_on == [[0, 0], [0, 0], [1, 1], [1, 1]]
    write_truth(document, path)
    assert [[s.machine for s in r.seeds] for r in load_truth(path).records] == trained_on
    # a fresh study adopting the file keeps every seed's machine
    adopted = build_truth(config, tmp_path / "fresh", name="set", adopt=document)
    assert _untimed(truth_document(adopted.study)) == _untimed(document)


def _untimed(document: dict) -> list[dict]:
    """A truth document's records without their seconds (which no two runs share)."""
    return [
        {**{k: v for k, v in r.items() if "seconds" not in k},
         "seeds": [{k: v for k, v in s.items() if "seconds" not in k} for s in r["seeds"]]}
        for r in document["records"]
    ]  # fmt: skip


def test_a_file_of_another_build_is_not_adopted(tmp_path: Path, toy) -> None:
    from gtnas.errors import ConfigError

    config = dataclasses.replace(toy, n=1, seeds=2)
    document = truth_document(build_truth(config, tmp_path / "a", name="set").study)
    cases = (({"seed": 1}, "seed=0, not 1"), ({"seeds": 1}, "seeds=2, not 1"))
    for index, (change, message) in enumerate(cases):
        other = dataclasses.replace(config, **change)
        with pytest.raises(ConfigError, match=message):
            build_truth(other, tmp_path / f"b{index}", name="x", adopt=document)
    with pytest.raises(ConfigError, match="only a gtnas-truth/2 file"):
        build_truth(config, tmp_path / "c", name="x", adopt={**document, "format": "gtnas-truth/1"})


def test_shipped_format_1_sets_still_read() -> None:
    root = Path(__file__).resolve().parents[1] / "truth"
    for path in sorted(root.glob("*-e3.json")):  # the first sets: one seed each
        truth = load_truth(path)
        assert len(truth) == 100 and truth.training_seeds() == [0]
        assert truth.seed_pairs("test")[0].size == 0
        assert truth.accuracies("test", seed=0) == truth.accuracies("test")
