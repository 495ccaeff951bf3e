"""``gtnas teach train --nproc N``: start N processes of the same command on this machine, the
way ``torchrun --standalone --nproc-per-node N -m gtnas ...`` does, and watch them.

Each process gets torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` = 127.0.0.1, a free ``MASTER_PORT``) and joins the
process group through :func:`gtnas.runtime.distributed.join`. When one stops with an error or
is killed, the others are stopped too (they could only wait for it), and the launcher reports
which rank stopped how, in one line: the run resumes from its last checkpoint with
``--resume``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from gtnas.errors import GtnasError
from gtnas.runtime.cores import usable_cores

GRACE_SECONDS = 10.0  # after SIGTERM, before SIGKILL
# Set in the ranks' environment: a rank that loses its peers exits without a line of its own,
# since the launcher reports which rank stopped (gtnas.cli.app reads it).
LAUNCHED = "GTNAS_LAUNCHED"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(argv: Sequence[str], nproc: int, *, poll: float = 0.2) -> None:
    """Run ``python -m gtnas ARGV`` as ``nproc`` ranks; returns when all finished, raises
    :class:`GtnasError` (one line) when one of them did not."""
    if nproc < 2:
        raise ValueError("launch needs at least 2 processes")
    port = free_port()
    # torchrun's default: one thread per process unless told otherwise; here the machine's
    # usable cores shared out, so N processes do not fight over them
    threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, usable_cores() // nproc))
    processes = []
    for rank in range(nproc):
        env = {
            **os.environ,
            "OMP_NUM_THREADS": threads,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            LAUNCHED: "1",
        }
        processes.append(subprocess.Popen([sys.executable, "-m", "gtnas", *argv], env=env))
    try:
        while True:
            codes = [p.poll() for p in processes]
            failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                _stop(processes)
                rank, code = failed[0]
                raise GtnasError(
                    f"rank {rank} of {nproc} {_how(code)}, so the run was stopped; continue it "
                    "from its last checkpoint with the same command and --resume"
                )
            if all(code == 0 for code in codes):
                return
            time.sleep(poll)
    except KeyboardInterrupt:
        _stop(processes)
        raise


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
