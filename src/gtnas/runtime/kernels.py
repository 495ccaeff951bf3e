"""A work-around for a torch CPU bug that would cost gtnas its reproducibility.

Importing this module runs one vectorised math kernel (tanh) on one thread. Left to itself,
torch 2.13 gets the first such kernel (tanh, exp, ...) of a process wrong when it runs on two
threads, on the calling thread's share of the tensor; some set-up inside torch appears to be
done lazily there (the cause inside torch is not found): ``torch.tanh`` of a (32, 1, 28, 28)
tensor had errors up to 9e-5 (3e-8 otherwise) in its first 12,537 elements in 7 of 40 fresh
processes on an Intel Xeon with AVX-512. The GTN generator's output ``tanh`` is the first such
kernel of a meta-training run, so about 1 run in 20 started from slightly different synthetic
images and ended with different numbers. A call on a one-element tensor runs on one thread and
does the set-up safely: 0 of 40 fresh processes went wrong afterwards, and 80 of 80 tiny
meta-training runs agreed bit for bit.

:mod:`gtnas.seeding` and :mod:`gtnas.runtime.device` import it, so every run does.
"""

from __future__ import annotations

import torch


def initialise_vectorised_math() -> None:
    """Run one vectorised math kernel on a one-element tensor (one thread, no gradient)."""
    with torch.no_grad():
        torch.tanh(torch.zeros(1))


initialise_vectorised_math()
