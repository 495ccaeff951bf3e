"""The named configs (configs/), the benchmarks' config files (benchmarks/configs/) and the
teach CLI's defaults: each is valid, and the CLI's defaults are the best general recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.meta.run import TeachRunConfig

ROOT = Path(__file__).resolve().parent.parent
TEACHER_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.json") if "search" not in p.name)


def _teach(values: dict) -> TeachRunConfig:
    return config_from_dict(TeachRunConfig, merge_values(config_to_dict(TeachRunConfig()), values))


@pytest.mark.parametrize("path", TEACHER_CONFIGS, ids=lambda p: p.name)
def test_every_named_teacher_config_is_valid_and_in_the_table(path: Path) -> None:
    _teach(json.loads(path.read_text()))
    assert f"`{path.name}`" in (ROOT / "configs" / "README.md").read_text()


def test_the_search_demo_config_is_valid() -> None:
    from gtnas.search.pipeline import SearchConfig

    values = json.loads((ROOT / "configs" / "search-demo.json").read_text())
    config_from_dict(SearchConfig, merge_values(config_to_dict(SearchConfig()), values))


def test_the_cli_defaults_are_the_best_general_recipe() -> None:
    from gtnas.cli.teach import DEFAULTS_FILE, default_values

    assert json.loads(DEFAULTS_FILE.read_text()) == json.loads(
        (ROOT / "configs" / "mnist-teacher.json").read_text()
    )
    config = config_from_dict(TeachRunConfig, default_values())
    options = config.teacher_options
    assert (options.init, options.soft_labels, config.meta.iterations) == ("real", True, 480)
    assert (options.inner_steps, options.batch_size) == (32, 128)


def test_every_benchmark_preset_variant_and_probe_is_a_valid_config() -> None:
    config = json.loads((ROOT / "benchmarks" / "configs" / "teach.json").read_text())
    for preset in config["presets"].values():
        _teach(preset["config"])
    for variant in config["variants"].values():
        _teach(merge_values(config["presets"]["paper"]["config"], variant["config"]))
    sets = sorted((ROOT / "benchmarks" / "configs" / "probes").glob("*.json"))
    assert len(sets) == 7
    for path in sets:
        probe_set = json.loads(path.read_text())
        assert probe_set["about"] and probe_set["results"].endswith(".json")
        for probe in probe_set["probes"].values():
            _teach(merge_values(probe_set["scale"], probe))


@pytest.mark.parametrize("path", TEACHER_CONFIGS, ids=lambda p: p.name)
def test_every_named_teacher_config_states_its_start_and_labels(path: Path) -> None:
    # `gtnas teach train` starts from its own defaults (a warm start, soft labels) and the
    # Python API from the dataclasses' (random, hard): a config that left these out would
    # mean two different teachers.
    options = json.loads(path.read_text())["teacher_options"]
    assert {"init", "soft_labels"} <= set(options), f"{path.name}: say init and soft_labels"
