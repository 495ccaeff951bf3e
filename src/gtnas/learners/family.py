"""The GTN paper's learner family and the samplers that draw a learner per outer iteration."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

import torch
from torch import nn

from gtnas.learners.layers import MeanOnlyBatchNorm, WNConv2d, WNLinear, init_learner
from gtnas.registry import Registry


@dataclass(frozen=True)
class ConvLearnerConfig:
    """The paper's MNIST learner: WN-conv -> max-pool -> WN-conv -> max-pool -> WN-FC -> WN-FC.

    Defaults are the public GTN code's ``Classifier`` (conv 64, conv 128, fc 256).
    """

    conv1: int = 64
    conv2: int = 128
    fc: int = 256
    # Mean-only batch norm after each hidden layer, as in the public code. Without it the
    # max-pools bias activations upwards layer after layer: initial logits are large (loss ~4.8
    # instead of ln 10) and 32 steps of SGD(0.05, momentum 0.9) diverge; with it the same run
    # reaches ~96% on MNIST validation.
    mean_only_bn: bool = True

    def __post_init__(self) -> None:
        for name in ("conv1", "conv2", "fc"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive width, got {getattr(self, name)}")


class ConvLearner(nn.Module):
    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        config: ConvLearnerConfig = ConvLearnerConfig(),
    ) -> None:
        super().__init__()
        self.config = config
        channels, height, width = image_shape
        bn = config.mean_only_bn

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            # conv -> max-pool(3, stride 2, pad 1) halves H and W (28 -> 14 -> 7)
            layers: list[nn.Module] = [
                WNConv2d(c_in, c_out, 3, padding=1, bias=not bn),
                nn.MaxPool2d(3, stride=2, padding=1),
            ]
            if bn:
                layers.append(MeanOnlyBatchNorm(c_out))
            layers.append(nn.LeakyReLU(0.1))
            return layers

        self.features = nn.Sequential(
            *block(channels, config.conv1), *block(config.conv1, config.conv2)
        )
        flat = config.conv2 * _pooled(height) * _pooled(width)
        head: list[nn.Module] = [WNLinear(flat, config.fc, bias=not bn)]
        if bn:
            head.append(MeanOnlyBatchNorm(config.fc))
        head += [nn.LeakyReLU(0.1), WNLinear(config.fc, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> logits (B, num_classes). channels_last: oneDNN's pooling and
        # convolution kernels are several times faster in that layout on CPU.
        x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x).flatten(1))


def _pooled(size: int) -> int:
    for _ in range(2):
        size = (size + 2 - 3) // 2 + 1
    return size


class LearnerSampler(Protocol):
    """Draws a freshly initialised learner (architecture and weights) from ``generator``."""

    name: str

    def sample(self, generator: torch.Generator) -> nn.Module: ...

    def default(self, generator: torch.Generator) -> nn.Module:
        """The sampler's reference architecture, freshly initialised."""
        ...


LEARNER_SAMPLERS: Registry[LearnerSampler] = Registry("learner sampler")


@LEARNER_SAMPLERS.register("fixed")
class FixedLearnerSampler:
    """Always the same architecture (the paper's learner by default), new weights each time."""

    name = "fixed"

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        config: ConvLearnerConfig = ConvLearnerConfig(),
    ) -> None:
        self.image_shape, self.num_classes, self.config = image_shape, num_classes, config

    def default(self, generator: torch.Generator) -> nn.Module:
        return init_learner(ConvLearner(self.image_shape, self.num_classes, self.config), generator)

    def sample(self, generator: torch.Generator) -> nn.Module:
        return self.default(generator)


@LEARNER_SAMPLERS.register("random-width")
class RandomWidthLearnerSampler(FixedLearnerSampler):
    """The paper's family with random widths, as the public code's ``randomize_width``:
    conv1 in [32, 128), conv2 in [64, 256), fc in [64, 256)."""

    name = "random-width"
    ranges: ClassVar[dict[str, tuple[int, int]]] = {
        "conv1": (32, 128),
        "conv2": (64, 256),
        "fc": (64, 256),
    }

    def sample(self, generator: torch.Generator) -> nn.Module:
        widths = {
            key: int(torch.randint(lo, hi, (), generator=generator))
            for key, (lo, hi) in self.ranges.items()
        }
        config = replace(self.config, **widths)
        return init_learner(ConvLearner(self.image_shape, self.num_classes, config), generator)


def create_learner_sampler(
    name: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    config: ConvLearnerConfig = ConvLearnerConfig(),
) -> LearnerSampler:
    return LEARNER_SAMPLERS.create(name, image_shape, num_classes, config)
