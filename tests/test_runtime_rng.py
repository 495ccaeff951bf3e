"""RNG capture/restore: every generator continues exactly, also through a JSON round trip."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from gtnas.errors import GtnasError
from gtnas.runtime.rng import capture_rng_state, restore_rng_state


def _draws(generator: torch.Generator) -> tuple:
    return (
        [random.random() for _ in range(3)],
        random.gauss(0, 1),
        np.random.rand(3).tolist(),
        float(np.random.standard_normal()),
        torch.rand(3),
        torch.randn(3, generator=generator),
    )


def test_restored_generators_repeat_the_same_draws() -> None:
    generator = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leave a cached Gaussian in both Python's and NumPy's state
    np.random.standard_normal()
    tensors, state = capture_rng_state({"data": generator})
    state = json.loads(json.dumps(state, allow_nan=False))  # what a checkpoint stores
    expected = _draws(generator)

    random.seed(10)
    np.random.seed(20)
    torch.manual_seed(30)
    generator.manual_seed(50)
    restore_rng_state(tensors, state, {"data": generator})
    actual = _draws(generator)

    for want, got in zip(expected, actual, strict=True):
        if isinstance(want, torch.Tensor):
            assert torch.equal(want, got)
        else:
            assert want == got


def test_unknown_generator_name_is_a_clear_error() -> None:
    tensors, state = capture_rng_state({})
    with pytest.raises(GtnasError, match="teacher"):
        restore_rng_state(tensors, state, {"teacher": torch.Generator()})
