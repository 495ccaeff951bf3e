"""Data-parallel processes for meta-training: one rank per process, meta-gradients all-reduced.

A run started by ``torchrun --nproc-per-node N -m gtnas teach train ...`` (or by
``gtnas teach train --nproc N``, which launches the same thing, see
:mod:`gtnas.runtime.launch`) finds its rank and world size in torchrun's environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins a
process group: gloo on the CPU, NCCL where every rank has a GPU of its own (gloo again when
several ranks share one GPU, which NCCL refuses). Several machines are the same torchrun call
with ``--nnodes`` and a rendezvous endpoint; nothing here depends on the ranks sharing one.

Everything a rank exchanges goes through :class:`World`: a sum of tensors over all ranks, a
broadcast from rank 0, a barrier. A rank that dies makes the others' next exchange fail; that
failure becomes one :class:`PeerLost` line telling the user to resume.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch

from gtnas.errors import GtnasError

# How long a rank waits for the others at an exchange before giving up: long enough for rank
# 0's validation and checkpoint writing between two meta-steps.
TIMEOUT = datetime.timedelta(minutes=30)


class PeerLost(GtnasError):
    """Another process of a distributed run stopped (killed, out of memory, an error)."""

    launcher_reports = True  # under `--nproc N` the launcher names the rank that stopped


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run folder and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shares(self, count: int) -> list[int]:
        """The indices in ``0..count-1`` this rank handles: every size-th from its rank."""
        return list(range(self.rank, count, self.size))

    def sum(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each tensor summed over all ranks, in its own dtype (one all-reduce of one flat
        buffer per dtype)."""
        if not self.distributed or not tensors:
            return tensors
        out: list[torch.Tensor | None] = [None] * len(tensors)
        for dtype in dict.fromkeys(t.dtype for t in tensors):
            members = [i for i, t in enumerate(tensors) if t.dtype == dtype]
            flat = torch.cat([tensors[i].reshape(-1) for i in members])
            self._call(torch.distributed.all_reduce, flat)
            offset = 0
            for i in members:
                out[i] = flat[offset : offset + tensors[i].numel()].view_as(tensors[i])
                offset += tensors[i].numel()
        return out  # type: ignore[return-value]

    def broadcast_(self, tensors: list[torch.Tensor]) -> None:
        """Overwrite every rank's ``tensors`` with rank 0's, in place."""
        if not self.distributed:
            return
        for tensor in tensors:
            self._call(torch.distributed.broadcast, tensor.data, src=0)

    def barrier(self) -> None:
        if self.distributed:
            self._call(torch.distributed.barrier)

    def _call(self, operation, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        try:
            operation(*args, **kwargs)
        except RuntimeError as exc:  # gloo / NCCL: a peer closed its connection or timed out
            raise PeerLost(
                f"rank {self.rank} of {self.size} lost its peers ({str(exc).splitlines()[0]}): "
                "another process of this run stopped; run the same command with --resume to "
                "continue from the last checkpoint"
            ) from None


def environment_world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join(device: torch.device) -> World:
    """This process's :class:`World`, joining torchrun's process group when there is one
    (idempotent). ``device`` picks the backend; on CUDA each rank takes GPU LOCAL_RANK when
    there are enough GPUs."""
    size = environment_world_size()
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        own_gpu = device.type == "cuda" and torch.cuda.device_count() >= local_world_size()
        backend = "nccl" if own_gpu else "gloo"
        if own_gpu:
            torch.cuda.set_device(local_rank)
        try:
            torch.distributed.init_process_group(backend, timeout=TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            raise GtnasError(
                f"rank {rank} could not join the run's {size} processes: {exc}"
            ) from None
    return World(rank, size, local_rank)


def rank_device(device: torch.device, world: World) -> torch.device:
    """The device rank ``world.local_rank`` computes on: its own GPU when each rank has one
    (``cuda`` -> ``cuda:LOCAL_RANK``), else ``device`` itself."""
    own_gpus = device.type == "cuda" and torch.cuda.device_count() >= local_world_size()
    if own_gpus and device.index is None and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def local_world_size() -> int:
    """Processes of this run on this machine (torchrun's LOCAL_WORLD_SIZE)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))


def leave() -> None:
    """Leave the process group (at the end of a run)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def exit_finished_rank() -> NoReturn:
    """End a rank of a finished distributed run at once, skipping the interpreter's teardown.

    With gloo, torch 2.13 sometimes aborts a rank while the process exits, after its work is
    written and the process group destroyed ("terminate called without an active exception":
    a C++ thread destroyed while joinable, no Python frame left; measured in
    docs/experiments.md). The launcher would then report a killed rank and tell the user to
    resume a run that had finished. Everything this process wrote is closed by now, so
    flushing the streams and leaving with ``os._exit`` loses nothing."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
