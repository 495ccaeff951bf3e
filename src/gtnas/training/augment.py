"""Batched, seeded data augmentation for final training: random crops of a padded image
(random translation) and horizontal flips, done for a whole batch with one gather.

The random draws (B offsets and B flip bits per batch) come from an explicit CPU
``torch.Generator``, so a run draws the same augmentation on CPU and GPU and resumes exactly
once that generator's state is restored; the gather itself runs wherever the images are.

Images arrive normalised (``(x - mean) / std``), so the padding is filled with each channel's
normalised black, ``-mean / std``: the same result as torchvision's ``RandomCrop(padding=p)``
applied before normalisation.

Policies (``--set augmentation=NAME``), and the one ``auto`` picks for each data set:

    none        no augmentation
    crop2       pad 2, random 28x28 crop: translation by up to 2 px       (auto: mnist, idx:)
    crop2-flip  the same plus a horizontal flip half of the time          (auto: fashion-mnist)
    crop4-flip  pad 4, random crop, horizontal flip (the CIFAR standard)  (auto: cifar10, cifar:)

Digits are not flipped: a mirrored 2 or 7 is no longer that digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gtnas.errors import ConfigError
from gtnas.registry import Registry


def crop_and_flip(
    images: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    flip: torch.Tensor,
    padding: int,
    fill: torch.Tensor,
) -> torch.Tensor:
    """Pad each image by ``padding`` pixels of ``fill``, cut the (H, W) window whose corner is at
    (``top[i]``, ``left[i]``) of the padded image and mirror it left-right where ``flip[i]``.

    images: (B, C, H, W); top, left: (B,) integers in [0, 2 * padding]; flip: (B,) bool;
    fill: (C,) value of each channel's padding. ``top = left = padding`` and no flip returns
    the images unchanged; ``top = 0`` moves the content ``padding`` pixels down.
    """
    batch, channels, height, width = images.shape
    device = images.device
    if padding > 0:
        padded = (
            fill.to(images)
            .view(1, channels, 1, 1)
            .repeat(batch, 1, height + 2 * padding, width + 2 * padding)
        )  # (B, C, H + 2p, W + 2p)
        padded[:, :, padding : padding + height, padding : padding + width] = images
    else:
        padded = images
    top, left, flip = top.to(device), left.to(device), flip.to(device)
    rows = top.view(-1, 1) + torch.arange(height, device=device)  # (B, H)
    columns = torch.arange(width, device=device)
    columns = torch.where(flip.view(-1, 1), columns.flip(0), columns)  # (B, W)
    columns = columns + left.view(-1, 1)
    # One advanced-indexing gather for the whole batch: (B, 1, 1, 1), (1, C, 1, 1),
    # (B, 1, H, 1), (B, 1, 1, W) broadcast to (B, C, H, W).
    return padded[
        torch.arange(batch, device=device).view(-1, 1, 1, 1),
        torch.arange(channels, device=device).view(1, -1, 1, 1),
        rows.view(batch, 1, height, 1),
        columns.view(batch, 1, 1, width),
    ]


@dataclass(frozen=True)
class RandomCropFlip:
    """Random translation by up to ``padding`` pixels each way, and a horizontal flip with
    probability 1/2 when ``flip`` is set."""

    padding: int
    flip: bool

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator, fill: torch.Tensor
    ) -> torch.Tensor:
        batch = images.shape[0]
        # Always draw in this order (top, left, flip) from the CPU generator.
        top = torch.randint(0, 2 * self.padding + 1, (batch,), generator=generator)
        left = torch.randint(0, 2 * self.padding + 1, (batch,), generator=generator)
        if self.flip:
            flip = torch.randint(0, 2, (batch,), generator=generator).bool()
        else:
            flip = torch.zeros(batch, dtype=torch.bool)
        return crop_and_flip(images, top, left, flip, self.padding, fill)


class NoAugmentation:
    """The identity; draws nothing from the generator."""

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator, fill: torch.Tensor
    ) -> torch.Tensor:
        return images


Augmentation = RandomCropFlip | NoAugmentation

AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation policy")


@AUGMENTATIONS.register("none")
def _none() -> Augmentation:
    """No augmentation."""
    return NoAugmentation()


@AUGMENTATIONS.register("crop2")
def _crop2() -> Augmentation:
    """Pad 2 and random crop: translation by up to 2 pixels (MNIST)."""
    return RandomCropFlip(padding=2, flip=False)


@AUGMENTATIONS.register("crop2-flip")
def _crop2_flip() -> Augmentation:
    """Pad 2, random crop and horizontal flip (Fashion-MNIST)."""
    return RandomCropFlip(padding=2, flip=True)


@AUGMENTATIONS.register("crop4-flip")
def _crop4_flip() -> Augmentation:
    """Pad 4, random crop and horizontal flip (CIFAR-10)."""
    return RandomCropFlip(padding=4, flip=True)


# What "auto" means for each data set; a user's folder goes by its format (the part before ":").
AUTO_POLICIES: dict[str, str] = {
    "mnist": "crop2",
    "fashion-mnist": "crop2-flip",
    "cifar10": "crop4-flip",
    "idx": "crop2",
    "cifar": "crop4-flip",
}


def policy_name(augmentation: str, dataset: str) -> str:
    """The registered policy that ``augmentation`` ("auto" or a name) means for ``dataset``."""
    if augmentation == "auto":
        kind, colon, _ = dataset.partition(":")
        return AUTO_POLICIES.get(dataset if not colon else kind, "none")
    if augmentation not in AUGMENTATIONS:
        raise ConfigError(
            f"unknown augmentation {augmentation!r}; choose auto or one of: "
            f"{', '.join(AUGMENTATIONS.names())}"
        )
    return augmentation


def create_augmentation(augmentation: str, dataset: str) -> Augmentation:
    return AUGMENTATIONS.create(policy_name(augmentation, dataset))


def padding_fill(mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(C,) normalised value of a black pixel, ``(0 - mean) / std``: what padding adds."""
    return torch.tensor([-m / s for m, s in zip(mean, std, strict=True)], dtype=torch.float32)
