"""Typed configs: unknown keys and bad values are rejected by name; JSON round trips."""

from dataclasses import dataclass, field

import pytest

from gtnas.config import config_from_dict, config_to_dict
from gtnas.errors import ConfigError
from gtnas.meta.run import TeachRunConfig


@dataclass(frozen=True)
class Inner:
    width: int = 3
    rate: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    betas: tuple[float, float] = (0.9, 0.99)
    inner: Inner = field(default_factory=Inner)
    flag: bool = False


def test_nested_values_and_coercions():
    config = config_from_dict(
        Outer, {"sizes": [4, 5, 6], "betas": [0.5, 1], "inner": {"rate": 2}, "flag": True}
    )
    assert config == Outer(sizes=(4, 5, 6), betas=(0.5, 1.0), inner=Inner(rate=2.0), flag=True)
    assert config_from_dict(Outer, config_to_dict(config)) == config


@pytest.mark.parametrize(
    "values,message",
    [
        ({"nme": "y"}, "unknown config key(s) nme"),
        ({"inner": {"widht": 2}}, "unknown config key(s) inner.widht"),
        ({"inner": {"width": "wide"}}, "inner.width='wide' has the wrong type"),
        ({"inner": {"width": True}}, "inner.width=True has the wrong type"),
        ({"flag": "yes"}, "flag='yes' has the wrong type"),
        ({"sizes": 3}, "sizes=3 should be a list"),
    ],
)
def test_bad_keys_and_values_are_named(values, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict(Outer, values)
    assert message in str(info.value)


def test_component_validation_surfaces_as_config_error():
    with pytest.raises(ConfigError, match="unknown teacher"):
        config_from_dict(TeachRunConfig, {"teacher": "teacherless"})
    with pytest.raises(ConfigError, match="inner_steps and batch_size must be positive"):
        config_from_dict(TeachRunConfig, {"teacher_options": {"inner_steps": 0}})


def test_the_default_run_config_round_trips_through_json():
    config = TeachRunConfig()
    assert config_from_dict(TeachRunConfig, config_to_dict(config)) == config


def test_a_run_config_takes_a_search_space_blueprint_as_its_fields():
    from gtnas.meta.run import make_learner_sampler
    from gtnas.seeding import make_generator

    fields = {"channels": 4, "cells_per_stage": 1, "head_pool": 7}
    config = config_from_dict(TeachRunConfig, {"learner": "nb201", "blueprint": fields})
    assert config.blueprint == fields
    assert config_from_dict(TeachRunConfig, config_to_dict(config)) == config
    learner = make_learner_sampler(config, (1, 28, 28), 10).sample(make_generator(0))
    # the head flattens 4 * 4 channels at 7 x 7 into its linear layer
    assert learner.head.pool == 7 and learner.head.linear.v.shape == (10, 16 * 49)
    bad = config_from_dict(TeachRunConfig, {"learner": "nb201", "blueprint": {"width": 4}})
    with pytest.raises(ConfigError, match="unknown config key"):
        make_learner_sampler(bad, (1, 28, 28), 10)
