"""The GTN paper's learner family and the samplers that draw a learner per outer iteration."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

import torch
from torch import nn

from gtnas.learners.layers import (
    MaxPool2d,
    MeanOnlyBatchNorm,
    WNConv2d,
    WNLinear,
    init_learner,
)
from gtnas.registry import Registry


@dataclass(frozen=True)
class ConvLearnerConfig:
    """The paper's MNIST learner: (WN-conv 3x3 -> max-pool -> [mean-only BN] -> LeakyReLU)
    per entry of ``channels``, then WN-FC -> LeakyReLU -> WN-FC to the classes.

    Defaults are the public GTN code's ``Classifier``: conv 64, conv 128, fc 256.
    """

    channels: tuple[int, ...] = (64, 128)  # one conv block per entry; each halves H and W
    fc: int = 256
    # Mean-only batch norm after each hidden layer, as in the public code. Without it the
    # max-pools bias activations upwards layer after layer: initial logits are large (loss ~4.8
    # instead of ln 10) and 32 steps of SGD(0.05, momentum 0.9) diverge; with it they train.
    mean_only_bn: bool = True

    def __post_init__(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels) or self.fc < 1:
            raise ValueError(
                f"learner widths must be positive, got {self.channels} and fc={self.fc}"
            )


class ConvLearner(nn.Module):
    def __init__(
        self,
        image_shape: tuple[int, int, int],
        num_classes: int,
        config: ConvLearnerConfig = ConvLearnerConfig(),
    ) -> None:
        super().__init__()
        self.config = config
        c_in, height, width = image_shape
        bn = config.mean_only_bn
        layers: list[nn.Module] = []
        for c_out in config.channels:
            # conv -> max-pool(3, stride 2, pad 1) halves H and W (28 -> 14 -> 7 -> 4)
            layers += [
                WNConv2d(c_in, c_out, 3, padding=1, bias=not bn),
                MaxPool2d(3, stride=2, padding=1),
            ]
            if bn:
                layers.append(MeanOnlyBatchNorm(c_out))
            layers.append(nn.LeakyReLU(0.1))
            c_in, height, width = c_out, _pooled(height), _pooled(width)
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [WNLinear(c_in * height * width, config.fc, bias=not bn)]
        if bn:
            head.append(MeanOnlyBatchNorm(config.fc))
        head += [nn.LeakyReLU(0.1), WNLinear(config.fc, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> logits (B, num_classes). channels_last: oneDNN's pooling and
        # convolution kernels are several times faster in that layout on CPU.
        batch, channels, height, width = x.shape
        if channels == 1:
            # A contiguous 1-channel image is "channels_last" as far as contiguity goes, but
            # its strides say NCHW, so the first conv would answer in NCHW (and its backward
            # convert every gradient to NCHW). Give it channels_last strides instead: a view.
            x = x.reshape(batch, height, width, 1).permute(0, 3, 1, 2)
        else:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x).flatten(1))


def _pooled(size: int) -> int:
    return (size + 2 - 3) // 2 + 1


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
    """The paper's family with random depth (2 or 3 conv blocks) and widths, after the public
    code's ``randomize_width``: block i's width in ``widths[i]``, fc in [64, 256)."""

    name = "random-width"
    depths: ClassVar[tuple[int, ...]] = (2, 3)
    widths: ClassVar[tuple[tuple[int, int], ...]] = ((32, 128), (64, 256), (64, 256))
    fc_range: ClassVar[tuple[int, int]] = (64, 256)

    def sample(self, generator: torch.Generator) -> nn.Module:
        def draw(low: int, high: int) -> int:
            return int(torch.randint(low, high, (), generator=generator))

        depth = self.depths[draw(0, len(self.depths))]
        channels = tuple(draw(*self.widths[i]) for i in range(depth))
        config = replace(self.config, channels=channels, fc=draw(*self.fc_range))
        return init_learner(ConvLearner(self.image_shape, self.num_classes, config), generator)


def create_learner_sampler(
    name: str,
    image_shape: tuple[int, int, int],
    num_classes: int,
    config: ConvLearnerConfig = ConvLearnerConfig(),
) -> LearnerSampler:
    return LEARNER_SAMPLERS.create(name, image_shape, num_classes, config)
