"""Machine descriptions stored beside seconds name the CPU's vector instructions too."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from gtnas.runtime.cores import usable_cores
from gtnas.runtime.machine import cpu_capability, cpu_name
from gtnas.search.truth_build import TruthConfig, machine_description


def test_descriptions_carry_the_cpu_capability(benchmark_module) -> None:
    expected = torch.backends.cpu.get_cpu_capability()
    assert cpu_capability() == expected and cpu_name()
    described = benchmark_module("machine").describe_machine()
    assert described["cpu_capability"] == expected and described["cpu"] == cpu_name()
    truth = machine_description(TruthConfig(), threads=1)
    assert truth["cpu_capability"] == expected and truth["cpu"] == cpu_name()


def test_threads_are_shared_out_of_the_cores_the_process_may_use() -> None:
    """A process pinned to one core (taskset, a cpuset, a test worker) counts one core: what
    a search, a truth build or a launch shares out among its workers, not the machine's."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from gtnas.runtime.cores import usable_cores; print(usable_cores())"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-2000:]
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_a_test_worker_runs_on_its_share_of_the_cores() -> None:
    """tests/conftest.py pins each pytest-xdist worker to its share of the cores, and what it
    starts runs torch on that many threads (unpinned, two workers ran four on two cores)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 1:
        pytest.skip("not under pytest-xdist")
    machine = os.cpu_count() or 1
    if workers > machine:
        pytest.skip("more workers than cores: nothing to share")
    assert usable_cores() <= -(-machine // workers)
    if os.environ.get("OMP_NUM_THREADS"):
        return  # the environment sets the threads of what the worker starts
    # what the worker starts (a benchmark, a search's workers) inherits the share
    script = "import torch; print(torch.get_num_threads())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and int(done.stdout) == usable_cores(), done.stderr[-2000:]
