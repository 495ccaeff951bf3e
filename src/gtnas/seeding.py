"""The one place randomness is seeded. No clock seeding anywhere in gtnas.

Code that needs randomness takes an explicit ``torch.Generator`` (or a seed to make one), so a
run's numbers depend only on its seed and the machine.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch

import gtnas.runtime.kernels  # noqa: F401  (torch's math set-up on one thread, before any run)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch's global generators and return a fresh torch generator.

    The global seeding covers library code we do not control (e.g. default ``nn.Module``
    initialisation); our own code draws from the returned generator.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return make_generator(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def derive_seed(seed: int, *keys: int | str) -> int:
    """A child seed that depends on ``seed`` and ``keys`` (stable across runs and machines)."""

    text = ":".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)
