"""The GTN generator G(z, y): noise and a one-hot label in, an image out.

Architecture of the public GTN code (the same for MNIST and CIFAR-10): [z, onehot(y)] ->
WN-Linear(1024) + BN + LeakyReLU(0.1) -> WN-Linear(128 * (W/4)^2) + BN + LeakyReLU -> reshape
(128, H/4, W/4) -> two blocks of (nearest x2 upsample, reflect pad, 3x3 WN-conv), BN + LeakyReLU
between -> tanh -> x2 (so outputs span roughly the range of normalised real data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gtnas.learners.layers import WNConv2d, WNLinear


@dataclass(frozen=True)
class GeneratorConfig:
    noise_dim: int = 128
    hidden: int = 1024  # width of the first fully connected layer
    channels: int = 128  # channels of the (H/4, W/4) feature map
    mid_channels: int = 64  # channels after the first upsampling block
    output_scale: float = 2.0  # tanh(.) * scale

    def __post_init__(self) -> None:
        for name in ("noise_dim", "hidden", "channels", "mid_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"generator {name} must be positive")


class Generator(nn.Module):
    def __init__(
        self, image_shape: tuple[int, int, int], num_classes: int, config: GeneratorConfig
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        if height % 4 or width % 4:
            raise ValueError(f"generator needs image sides divisible by 4, got {height}x{width}")
        self.config, self.num_classes = config, num_classes
        self.base = (config.channels, height // 4, width // 4)
        # BatchNorm uses the statistics of each generated batch; no running statistics are kept
        # because the generator is only ever run on whole batches.
        self.fc = nn.Sequential(
            WNLinear(config.noise_dim + num_classes, config.hidden, bias=False),
            nn.BatchNorm1d(config.hidden, track_running_stats=False),
            nn.LeakyReLU(0.1),
            WNLinear(config.hidden, config.channels * (height // 4) * (width // 4), bias=False),
            nn.BatchNorm1d(
                config.channels * (height // 4) * (width // 4), track_running_stats=False
            ),
            nn.LeakyReLU(0.1),
        )
        self.conv1 = WNConv2d(config.channels, config.mid_channels, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(config.mid_channels, track_running_stats=False)
        self.conv2 = WNConv2d(config.mid_channels, channels, 3, bias=True)

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, WNConv2d | WNLinear):
                module.reset_parameters(generator)
            elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.reset_parameters()

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # noise: (B, noise_dim); labels: (B,) int64 or (B, K) probabilities -> (B, C, H, W)
        if labels.dim() == 1:
            labels = F.one_hot(labels, self.num_classes).to(noise.dtype)
        h = self.fc(torch.cat([noise, labels], dim=1)).view(-1, *self.base)
        # channels_last from here on, as the learners run: oneDNN convolves it without
        # reordering, and the pad, upsample and batch norm keep it: a paper-size episode runs
        # markedly faster on a 2-core CPU (same numbers to float rounding).
        h = h.contiguous(memory_format=torch.channels_last)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = F.leaky_relu(self.bn1(self.conv1(F.pad(h, (1, 1, 1, 1), mode="reflect"))), 0.1)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.pad(h, (1, 1, 1, 1), mode="reflect"))
        return torch.tanh(h) * self.config.output_scale
