"""Final training: recipe, augmentation, measurement and the resumable training loop.

The loop is tested on a small convolutional "space" defined here (the trainer knows nothing
about the network), on a slice of the real MNIST, so every run takes a second or two; one test
trains a registered space's tiny network the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from gtnas.config import config_from_dict
from gtnas.data import Dataset, Split
from gtnas.data.dataset import normalise
from gtnas.errors import ConfigError, GenotypeError, GtnasError, NonFiniteError
from gtnas.seeding import make_generator
from gtnas.spaces.base import Decision, SearchSpace
from gtnas.training import (
    AUGMENTATIONS,
    FinalTrainConfig,
    count_flops,
    count_parameters,
    create_augmentation,
    crop_and_flip,
    learning_rate_factor,
    train_network,
)
from gtnas.training.augment import RandomCropFlip, padding_fill, policy_name
from gtnas.training.trainer import TIMING_KEYS, build_network, make_optimizer, train_step

# Runs are compared bit for bit (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")

# --- a small space for the loop tests ---------------------------------------------------------


@dataclass(frozen=True)
class ToyConfig:
    pass


@dataclass(frozen=True)
class ToyBlueprint:
    channels: int = 8


class ToySpace(SearchSpace[int]):
    """Genotype = the kernel size of the first convolution (1 or 3); not registered."""

    name = "toy"
    Config = ToyConfig
    Blueprint = ToyBlueprint
    blueprints: ClassVar[dict[str, ToyBlueprint]] = {
        "tiny": ToyBlueprint(4),
        "search": ToyBlueprint(8),
        "final": ToyBlueprint(8),
    }

    def decisions(self) -> list[Decision]:
        return [Decision("kernel", (1, 3))]

    def from_decisions(self, indices: Sequence[int]) -> int:
        return (1, 3)[indices[0]]

    def to_decisions(self, genotype: int) -> list[int]:
        return [(1, 3).index(genotype)]

    def to_string(self, genotype: int) -> str:
        return str(genotype)

    def parse(self, text: str) -> int:
        genotype = int(text)
        self.validate(genotype)
        return genotype

    def validate(self, genotype: int) -> None:
        if genotype not in (1, 3):
            raise GenotypeError(f"toy kernel must be 1 or 3, got {genotype}")

    def _network(self, genotype, image_shape, num_classes, blueprint, norm):
        c = blueprint.channels
        return nn.Sequential(
            nn.Conv2d(image_shape[0], c, genotype, padding=genotype // 2, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * c * (image_shape[1] // 4) * (image_shape[2] // 4), num_classes),
        )


@pytest.fixture(scope="module")
def small_mnist(mnist: Dataset) -> Dataset:
    """The real MNIST cut to 512 training, 500 validation and 500 test images."""

    def cut(split: Split, n: int) -> Split:
        return Split(split.images[:n], split.labels[:n])

    return dataclasses.replace(
        mnist, train=cut(mnist.train, 512), val=cut(mnist.val, 500), test=cut(mnist.test, 500)
    )


QUICK = FinalTrainConfig(
    epochs=2,
    batch_size=64,
    device="cpu",
    blueprint="search",
    checkpoint_every_steps=3,
    log_every_steps=2,
    warmup_epochs=0.5,
)


def without_timing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def read_result(run: Path) -> dict[str, Any]:
    result = json.loads((run / "result.json").read_text())
    timing = {"seconds_per_epoch", "train_seconds", "wall_seconds", "images_per_second"}
    return {k: v for k, v in result.items() if k not in timing}


# --- recipe -----------------------------------------------------------------------------------


def test_learning_rate_warms_up_linearly_then_follows_a_cosine_to_zero():
    # 4 warm-up steps of 12: 1/4, 2/4, 3/4, 1, then 0.5 (1 + cos(pi k / 8)) for k = 0..7
    factors = [learning_rate_factor(s, 12, 4) for s in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0
    assert math.isclose(factors[8], 0.5, abs_tol=1e-12)  # half way through the decay
    assert math.isclose(learning_rate_factor(12, 12, 4), 0.0, abs_tol=1e-12)
    assert all(a > b for a, b in itertools.pairwise(factors[4:]))


def test_config_rejects_unknown_keys_and_bad_values_by_name():
    with pytest.raises(ConfigError, match=r"unknown config key.*bogus"):
        config_from_dict(FinalTrainConfig, {"bogus": 1})
    with pytest.raises(ConfigError, match="lr"):
        config_from_dict(FinalTrainConfig, {"lr": -1.0})
    with pytest.raises(ConfigError, match="blueprint"):
        config_from_dict(FinalTrainConfig, {"blueprint": 5})
    with pytest.raises(ConfigError, match="warmup_epochs"):
        config_from_dict(FinalTrainConfig, {"epochs": 2, "warmup_epochs": 3})
    custom = config_from_dict(FinalTrainConfig, {"blueprint": {"channels": 4}, "epochs": 3})
    assert custom.blueprint == {"channels": 4} and custom.epochs == 3


def test_weight_decay_spares_batchnorm_and_biases():
    network = build_network(ToySpace(), 3, _fake_dataset((1, 8, 8)), QUICK)
    decay, no_decay = make_optimizer(network, QUICK).param_groups
    assert decay["weight_decay"] == QUICK.weight_decay and no_decay["weight_decay"] == 0.0
    assert {p.ndim for p in decay["params"]} == {2, 4}  # conv and linear weights
    # BN weight + bias (x2 layers) and the linear bias
    assert len(no_decay["params"]) == 5 and all(p.ndim == 1 for p in no_decay["params"])
    assert decay["nesterov"] and decay["momentum"] == 0.9


# --- augmentation -----------------------------------------------------------------------------


def test_crop_and_flip_against_hand_examples():
    image = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    batch = image.repeat(4, 1, 1, 1)
    top = torch.tensor([1, 0, 2, 1])
    left = torch.tensor([1, 0, 1, 0])
    flip = torch.tensor([False, False, False, True])
    out = crop_and_flip(batch, top, left, flip, padding=1, fill=torch.tensor([0.0]))
    expected = torch.tensor(
        [
            [[1, 2, 3], [4, 5, 6], [7, 8, 9]],  # centred: unchanged
            [[0, 0, 0], [0, 1, 2], [0, 4, 5]],  # corner (0, 0): content moves down and right
            [[4, 5, 6], [7, 8, 9], [0, 0, 0]],  # corner (2, 1): content moves up
            [[2, 1, 0], [5, 4, 0], [8, 7, 0]],  # moved right, then mirrored
        ],
        dtype=torch.float32,
    ).unsqueeze(1)
    assert torch.equal(out, expected)
    assert torch.equal(
        crop_and_flip(image, torch.tensor([1]), torch.tensor([1]), torch.tensor([True]), 1,
                      torch.tensor([0.0])),
        image.flip(-1),
    )  # fmt: skip


def test_policy_matches_a_per_image_reference_with_per_channel_fill():
    images = torch.randn(16, 3, 32, 32, generator=make_generator(0))
    fill = torch.tensor([-1.0, -2.0, -3.0])
    policy = AUGMENTATIONS.create("crop4-flip")
    generator = make_generator(7)
    out = policy(images, generator, fill)
    assert out.shape == images.shape

    # Independent reference: the same draws, one image at a time with F.pad and slicing.
    replay = make_generator(7)
    top = torch.randint(0, 9, (16,), generator=replay)
    left = torch.randint(0, 9, (16,), generator=replay)
    flip = torch.randint(0, 2, (16,), generator=replay).bool()
    for i in range(16):
        padded = torch.stack(
            [nn.functional.pad(images[i, c], (4, 4, 4, 4), value=float(fill[c])) for c in range(3)]
        )
        crop = padded[:, top[i] : top[i] + 32, left[i] : left[i] + 32]
        assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop), i
    assert flip.any() and not flip.all() and (top != 4).any()

    # Seeded: the same generator state gives the same batch, another seed another one.
    assert torch.equal(policy(images, make_generator(7), fill), out)
    assert not torch.equal(policy(images, make_generator(8), fill), out)


def test_padding_is_normalised_black_and_auto_picks_the_datasets_policy():
    mean, std = (0.1307,), (0.3081,)
    black = normalise(np.zeros((1, 1, 1, 1), np.uint8), mean, std)
    assert torch.allclose(padding_fill(mean, std), black.view(1))
    assert policy_name("auto", "mnist") == "crop2"
    assert policy_name("auto", "fashion-mnist") == "crop2-flip"
    assert policy_name("auto", "cifar10") == "crop4-flip"
    assert policy_name("auto", "cifar:/some/folder") == "crop4-flip"
    assert create_augmentation("auto", "mnist") == RandomCropFlip(padding=2, flip=False)
    images = torch.randn(4, 1, 28, 28)
    assert create_augmentation("none", "mnist")(images, make_generator(0), black) is images
    with pytest.raises(ConfigError, match="unknown augmentation 'blur'"):
        policy_name("blur", "mnist")


# --- measurement ------------------------------------------------------------------------------


class _TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU())
        self.head = nn.Linear(2 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


def test_flops_and_parameters_match_hand_counts():
    network = _TwoLayer()
    # conv: 2 out channels x 16 pixels x 9 taps x 1 in channel = 288 MACs;
    # linear: 32 x 10 = 320 MACs; 2 FLOPs per MAC; BN, ReLU and biases are not counted.
    assert count_flops(network, (1, 4, 4)) == 2 * (288 + 320)
    # conv 18 + bias 2, BN 2 + 2, linear 320 + 10
    assert count_parameters(network) == 18 + 2 + 4 + 330
    # Measuring leaves the network as it was: training mode, BN statistics untouched.
    assert network.training and network.body[1].training
    assert int(network.body[1].num_batches_tracked) == 0
    tied = nn.Sequential(network.head, network.head)
    assert count_parameters(tied) == 330


# --- the training loop ------------------------------------------------------------------------


def test_training_beats_chance_and_writes_the_run_folder(tmp_path, small_mnist):
    config = dataclasses.replace(QUICK, epochs=3)
    result = train_network(ToySpace(), 3, small_mnist, config, tmp_path, show_progress=False)
    assert result.finished and result.steps == 3 * (512 // 64) and result.epochs == 3
    epochs = [r for r in result.history if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["train_loss"] < 0.6 * epochs[0]["train_loss"]
    assert result.val_accuracy > 0.8 and result.test_accuracy > 0.8  # chance is 0.1

    run = tmp_path
    result_json = json.loads((run / "result.json").read_text())
    assert result_json["test_accuracy"] == result.test_accuracy
    assert result_json["parameters"] == count_parameters(ToySpace().build(3, (1, 28, 28), 10))
    # conv 1->8 3x3 at 28x28, conv 8->16 3x3 at 14x14, linear 16*7*7 -> 10, in MACs
    macs = 8 * 28 * 28 * 9 + 16 * 14 * 14 * 9 * 8 + 16 * 7 * 7 * 10
    assert result_json["flops"] == 2 * macs and result_json["multiply_accumulates"] == macs
    assert result_json["augmentation"] == "crop2" and result_json["epochs"] == 3
    assert result_json["train_seconds"] > 0 and result_json["images_per_second"] > 0
    config_json = json.loads((run / "config.json").read_text())
    assert config_json["epochs"] == 3 and config_json["data"]["image_shape"] == [1, 28, 28]
    assert config_json["blueprint"] == {"channels": 8}  # the preset, resolved
    assert result_json["blueprint_preset"] == "search"
    assert json.loads((run / "genotype.json").read_text())["genotype"] == "3"

    # model.safetensors holds the trained state_dict, BN running statistics included.
    weights = load_file(run / "model.safetensors")
    network = ToySpace().build(3, (1, 28, 28), 10, blueprint="search")
    network.load_state_dict(weights, strict=True)
    assert "1.running_mean" in weights and not torch.all(weights["1.running_var"] == 1)
    network.eval()
    with torch.no_grad():
        predictions = network(small_mnist.test.images).argmax(1)
    accuracy = (predictions == small_mnist.test.labels).float().mean().item()
    assert accuracy == pytest.approx(result.test_accuracy)

    # A finished folder is not overwritten by a new run.
    with pytest.raises(GtnasError, match="already holds a run"):
        train_network(ToySpace(), 3, small_mnist, config, run, show_progress=False)


def test_resumed_run_matches_an_uninterrupted_one_bit_for_bit(tmp_path, small_mnist):
    space = ToySpace()
    whole = train_network(space, 3, small_mnist, QUICK, tmp_path / "whole", show_progress=False)
    assert whole.finished and whole.steps == 16

    run = tmp_path / "pieces"
    first = train_network(space, 3, small_mnist, QUICK, run, show_progress=False,
                          stop_after_steps=5)  # fmt: skip
    assert not first.finished and first.steps == 5 and first.test_accuracy is None
    assert not (run / "result.json").exists() and not (run / "model.safetensors").exists()
    # A killed later attempt may have logged records past the checkpoint, and half a line.
    with open(run / "metrics.jsonl", "a") as log:
        log.write('{"kind": "step", "step": 7, "loss": 99}\n{"kind": "st')
    second = train_network(space, 3, small_mnist, QUICK, run, resume=True, show_progress=False,
                           stop_after_steps=8)  # fmt: skip
    assert second.steps == 8 and second.epochs == 1  # stopped exactly at the epoch's end
    final = train_network(space, 3, small_mnist, QUICK, run, resume=True, show_progress=False)

    assert final.finished and final.steps == whole.steps
    resumed_weights = load_file(run / "model.safetensors")
    whole_weights = load_file(tmp_path / "whole" / "model.safetensors")
    assert resumed_weights.keys() == whole_weights.keys()
    for name, tensor in whole_weights.items():
        assert torch.equal(resumed_weights[name], tensor), name  # bit for bit
    assert without_timing(final.history) == without_timing(whole.history)
    assert [r["step"] for r in final.history if r["kind"] == "step"] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert read_result(run) == read_result(tmp_path / "whole")
    assert final.test_accuracy == whole.test_accuracy


def test_resume_refuses_another_config_or_genotype(tmp_path, small_mnist, monkeypatch):
    space = ToySpace()
    train_network(space, 3, small_mnist, QUICK, tmp_path, show_progress=False, stop_after_steps=2)
    other = dataclasses.replace(QUICK, lr=0.1)
    with pytest.raises(ConfigError, match="config differs"):
        train_network(space, 3, small_mnist, other, tmp_path, resume=True, show_progress=False)
    # The same preset name no longer means the same network.
    monkeypatch.setitem(ToySpace.blueprints, "search", ToyBlueprint(6))
    with pytest.raises(ConfigError, match="config differs"):
        train_network(space, 3, small_mnist, QUICK, tmp_path, resume=True, show_progress=False)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="genotype differs"):
        train_network(space, 1, small_mnist, QUICK, tmp_path, resume=True, show_progress=False)
    with pytest.raises(GtnasError, match="nothing to resume"):
        train_network(space, 3, small_mnist, QUICK, tmp_path / "none", resume=True)


def test_non_finite_step_changes_nothing_and_a_run_of_them_stops_training(tmp_path):
    dataset = _fake_dataset((1, 8, 8))
    network = build_network(ToySpace(), 3, dataset, QUICK)
    optimizer = make_optimizer(network, QUICK)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    backup = [b.clone() for b in network.buffers()]
    images = torch.full((8, 1, 8, 8), math.nan)
    loss, _, _, finite = train_step(
        network, optimizer, images, torch.zeros(8, dtype=torch.long), 0.1, QUICK, backup
    )
    assert math.isnan(loss) and not finite
    after = network.state_dict()
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), name
    assert all(p.grad is None for p in network.parameters())

    poisoned = dataclasses.replace(
        dataset, train=Split(torch.full_like(dataset.train.images, math.nan), dataset.train.labels)
    )
    config = dataclasses.replace(QUICK, batch_size=8, max_nonfinite=3)
    with pytest.raises(NonFiniteError, match="3 training steps in a row") as error:
        train_network(ToySpace(), 3, poisoned, config, tmp_path, show_progress=False)
    assert "--lr" in str(error.value) and len(str(error.value).splitlines()) == 1


def test_a_registered_space_trains_on_mnist(tmp_path, small_mnist):
    """The tiny network of a real search space goes through the whole loop and learns."""
    space, genotype = _registered_space()
    config = dataclasses.replace(
        QUICK, blueprint="tiny", batch_size=32, lr=0.1, epochs=2, log_every_steps=0
    )
    result = train_network(space, genotype, small_mnist, config, tmp_path, show_progress=False)
    assert result.finished and result.steps == 32 and result.skipped_steps == 0
    epochs = [r for r in result.history if r["kind"] == "epoch"]
    # from chance (loss ln 10 = 2.30, accuracy 0.1) towards learning digits
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] < math.log(10) + 0.2
    assert epochs[-1]["train_accuracy"] > 0.25 and result.flops > 0


def test_a_registered_space_resumes_bit_for_bit_with_channels_last_weights(tmp_path, small_mnist):
    """nb201 trains with channels_last weights; a checkpoint stores them (and the momentum)
    contiguous, and the resumed run must still match an uninterrupted one bit for bit."""
    space, genotype = _registered_space()
    config = dataclasses.replace(QUICK, blueprint="tiny", batch_size=64, log_every_steps=0)
    whole = train_network(space, genotype, small_mnist, config, tmp_path / "whole",
                          show_progress=False)  # fmt: skip
    run = tmp_path / "pieces"
    train_network(space, genotype, small_mnist, config, run, show_progress=False,
                  stop_after_steps=5)  # fmt: skip
    final = train_network(space, genotype, small_mnist, config, run, resume=True,
                          show_progress=False)  # fmt: skip
    assert final.finished and final.steps == whole.steps == 16
    resumed, unbroken = (
        load_file(run / "model.safetensors"),
        load_file(tmp_path / "whole" / "model.safetensors"),
    )
    assert resumed.keys() == unbroken.keys()
    for name, tensor in unbroken.items():
        assert tensor.is_contiguous(), name  # files do not depend on the training layout
        assert torch.equal(resumed[name], tensor), name
    assert final.test_accuracy == whole.test_accuracy
    machine = json.loads((run / "result.json").read_text())["machine"]
    assert machine["threads"] == torch.get_num_threads() and machine["gpu"] is None
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_restored_momentum_takes_its_parameters_layout():
    from gtnas.training.trainer import _match_layouts

    space, genotype = _registered_space()
    dataset = _fake_dataset((1, 8, 8))
    config = dataclasses.replace(QUICK, blueprint="tiny")
    network = build_network(space, genotype, dataset, config).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(network, config)
    backup = [b.clone() for b in network.buffers()]
    train_step(network, optimizer, dataset.train.images[:8], dataset.train.labels[:8], 0.1,
               config, backup)  # fmt: skip
    convolution = next(p for p in network.parameters() if p.ndim == 4 and p.shape[1] > 1)
    assert convolution.is_contiguous(memory_format=torch.channels_last)
    # what a checkpoint gives back: every buffer contiguous
    saved = copy.deepcopy(optimizer.state_dict())
    for state in saved["state"].values():
        state["momentum_buffer"] = state["momentum_buffer"].contiguous()
    restored = make_optimizer(network, config)
    restored.load_state_dict(saved)
    _match_layouts(restored)
    for parameter in network.parameters():
        buffer = restored.state[parameter]["momentum_buffer"]
        assert buffer.stride() == parameter.stride()
        assert torch.equal(buffer, optimizer.state[parameter]["momentum_buffer"])


# Every edge a 3x3 convolution but one skip: a cell that learns quickly even 4 channels wide.
NB201_CONVOLUTIONS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|"
)


def _registered_space() -> tuple[SearchSpace, Any]:
    """nb201 and a cell of 3x3 convolutions."""
    from gtnas.spaces import create_space

    space = create_space("nb201")
    return space, space.parse(NB201_CONVOLUTIONS)


def _fake_dataset(shape: tuple[int, int, int]) -> Dataset:
    """Random images (not MNIST) of ``shape``: 64 train / 16 val / 16 test, 10 classes."""
    generator = make_generator(0)

    def split(n: int) -> Split:
        return Split(torch.randn(n, *shape, generator=generator), torch.arange(n) % 10)

    return Dataset(
        name="fake",
        train=split(64),
        val=split(16),
        test=split(16),
        num_classes=10,
        image_shape=shape,
        mean=(0.5,),
        std=(0.25,),
        class_names=tuple(str(d) for d in range(10)),
        source="test",
        folder=Path("."),
    )
