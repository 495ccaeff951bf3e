"""A run folder's lifecycle, one way for every long job (meta-training, final training, and the
teachers and trainings that searches and truth builds run): refuse or resume, the config file,
the metrics log, atomic checkpoints with the random generators' state, and the wall time over
sessions.

    folder = RunFolder(run_dir, command="gtnas arch train")
    checkpoint = folder.open(resume)                # refuses a taken folder / an empty resume
    state = folder.restore(checkpoint, {"augment": g}) if checkpoint else None
    folder.keep_log_until(checkpoint, key="step")   # drop records past the checkpoint
    ...
    folder.save(step, tensors=..., state=..., generators={"augment": g})  # adds "rng", "elapsed"

A run resumed from its checkpoint continues exactly: everything that decides the next step is
in the checkpoint (the loops' own state, and every generator's), and the metrics a killed
session logged after its last checkpoint are dropped, since the resumed session logs them again.

In a run of several processes only rank 0 writes (``writes=False`` elsewhere): every rank reads
the same checkpoint, one writes it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from gtnas.errors import GtnasError
from gtnas.runtime.checkpoint import CHECKPOINTS, Checkpoint, load_checkpoint, save_checkpoint
from gtnas.runtime.metrics import MetricsLog
from gtnas.runtime.rng import capture_rng_state, restore_rng_state

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"


class RunFolder:
    """The folder of one resumable run. ``command`` names what starts such a run (for
    messages); ``finished`` lists files whose presence, like a checkpoint's, means the folder
    already holds a run."""

    def __init__(
        self,
        path: Path,
        *,
        command: str,
        finished: tuple[str, ...] = (),
        writes: bool = True,
    ) -> None:
        self.path = Path(path)
        self.command = command
        self.finished = finished
        self.writes = writes
        self.metrics = MetricsLog(self.path / METRICS_FILE)
        self._seconds_before = 0.0
        self._session_start = time.perf_counter()

    # -- refuse or resume --------------------------------------------------------------------
    def holds_run(self) -> bool:
        """Whether a run was started here (its config was written): resume rather than start."""
        return (self.path / CONFIG_FILE).is_file()

    def open(self, resume: bool) -> Checkpoint | None:
        """Check that the folder may be used (a new run never overwrites one; a resume needs
        one) and return its newest checkpoint when resuming (None: start from scratch)."""
        if resume:
            if not self.holds_run():
                raise GtnasError(
                    f"nothing to resume in {self.path}; start a run with `{self.command}`"
                )
            return load_checkpoint(self.path)
        taken = [CHECKPOINTS, *self.finished]
        if any((self.path / name).exists() for name in taken):
            raise GtnasError(
                f"{self.path} already holds a run; pass --resume to continue it or choose "
                "another --out"
            )
        return None

    def create(self) -> None:
        if self.writes:
            self.path.mkdir(parents=True, exist_ok=True)

    def keep_log_until(self, checkpoint: Checkpoint | None, *, key: str, start: int = 0) -> None:
        """On a resume, drop the metrics logged after ``checkpoint`` (by their ``key``; all
        records past ``start`` when there was no checkpoint), which the resumed session logs
        again."""
        if self.writes:
            self.metrics.truncate_after(start if checkpoint is None else checkpoint.step, key=key)

    # -- checkpoints ---------------------------------------------------------------------------
    def restore(
        self, checkpoint: Checkpoint, generators: dict[str, torch.Generator]
    ) -> dict[str, Any]:
        """The checkpoint's state, with ``generators`` set to the states it recorded and the
        wall time of the earlier sessions carried into :meth:`elapsed`."""
        state = checkpoint.state
        restore_rng_state(checkpoint.tensors, state["rng"], generators)
        # Checkpoints written before this module kept the time under "seconds" (meta-training)
        # or in the loop's "progress" (final training); they resume alike.
        before = state.get(
            "elapsed", state.get("seconds", state.get("progress", {}).get("elapsed"))
        )
        self._seconds_before = float(before or 0.0)
        self._session_start = time.perf_counter()
        return state

    def save(
        self,
        step: int,
        *,
        tensors: dict[str, torch.Tensor],
        state: dict[str, Any],
        generators: dict[str, torch.Generator],
    ) -> None:
        """An atomic checkpoint at ``step``: ``tensors`` and ``state`` with the generators'
        states (``state["rng"]``) and the wall time so far (``state["elapsed"]``)."""
        if not self.writes:
            return
        rng_tensors, rng_json = capture_rng_state(generators)
        document = {**state, "rng": rng_json, "elapsed": self.elapsed()}
        save_checkpoint(self.path, step, tensors={**tensors, **rng_tensors}, state=document)

    # -- time ----------------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Wall seconds of this run over all its sessions (the earlier ones as checkpointed)."""
        return self._seconds_before + time.perf_counter() - self._session_start
