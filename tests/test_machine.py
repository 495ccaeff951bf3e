"""Machine descriptions stored beside seconds name the CPU's vector instructions too."""

from __future__ import annotations

import torch

from gtnas.runtime.machine import cpu_capability, cpu_name
from gtnas.search.truth_build import TruthConfig, machine_description


def test_descriptions_carry_the_cpu_capability(benchmark_module) -> None:
    expected = torch.backends.cpu.get_cpu_capability()
    assert cpu_capability() == expected and cpu_name()
    described = benchmark_module("machine").describe_machine()
    assert described["cpu_capability"] == expected and described["cpu"] == cpu_name()
    truth = machine_description(TruthConfig(), threads=1)
    assert truth["cpu_capability"] == expected and truth["cpu"] == cpu_name()
