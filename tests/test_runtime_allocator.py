"""gtnas.runtime.allocator: freed tensors' memory is reused instead of faulted in afresh.

Each check is a fresh interpreter: the settings are process-wide, and what glibc does by
default depends on what the process allocated before.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys

import pytest

# Six meta-gradients of the paper's MNIST learner through a 4-step pixels teacher (batch 128,
# the paper's size; random images, no data set needed); prints the minor page faults of each.
SCRIPT = """
import resource
import torch
from gtnas.learners.family import FixedLearnerSampler
from gtnas.meta.meta_step import sample_real_batches
from gtnas.meta.unroll import meta_gradient
from gtnas.runtime.allocator import keep_freed_memory
from gtnas.seeding import make_generator
from gtnas.teachers.base import TeacherConfig, create_teacher
print(keep_freed_memory())
images, labels = torch.randn(512, 1, 28, 28), torch.arange(512) % 10
generator = make_generator(0)
teacher = create_teacher(
    "pixels", TeacherConfig(inner_steps=4), (1, 28, 28), 10,
    real_images=images, real_labels=labels, generator=generator,
)
sampler = FixedLearnerSampler((1, 28, 28), 10)
for _ in range(6):
    learner = sampler.sample(generator)
    teacher.begin_episode(generator)
    real = sample_real_batches(images, labels, [1, 2, 3, 4], 128, generator, torch.device("cpu"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    meta_gradient(learner, teacher, real)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def run(**env: str) -> tuple[bool, list[int]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    applied, *faults = result.stdout.split()
    return applied == "True", [int(f) for f in faults]


glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc",
    reason="keep_freed_memory sets glibc mallopt parameters; with another libc it does nothing",
)


@glibc
def test_meta_gradients_reuse_freed_memory_where_glibc_faults_it_in_afresh():
    # The first meta-gradient sizes the heap either way. After it, glibc's default hands freed
    # memory back and faults it in again (70,000-290,000 faults per meta-gradient), kept memory
    # is reused (a few, up to 19,000). Neither holds every time, on any statistic: on an Intel
    # Xeon three of five kept meta-gradients once faulted in 270,000-285,000, and the default's
    # sometimes as few as 1,500-31,000 (medians of 31,000 seen). So the typical (median)
    # meta-gradients are compared in up to three fresh pairs of runs, and the effect must show
    # in one; without keep_freed_memory both runs of a pair fault alike and none shows it.
    seen = []
    for _ in range(3):
        applied, kept = run(GTNAS_KEEP_FREED_MEMORY="1")
        off, default = run(GTNAS_KEEP_FREED_MEMORY="0")
        assert applied and not off
        typical_kept, typical_default = statistics.median(kept[1:]), statistics.median(default[1:])
        if typical_default > 50_000 and 5 * typical_kept < typical_default:
            return
        seen.append((kept, default))
    pytest.fail(f"kept memory was not reused in three pairs of runs (kept, default): {seen}")


@glibc
def test_a_users_own_malloc_environment_is_left_alone():
    applied, _ = run(GTNAS_KEEP_FREED_MEMORY="1", MALLOC_TRIM_THRESHOLD_="65536")
    assert not applied
