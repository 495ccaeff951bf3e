"""The run-folder lifecycle shared by meta-training and final training (gtnas.runtime.run_folder):
refuse or resume, the metrics log cut back to the checkpoint, generators and wall time carried
across sessions. The loops' own exact-resume tests (test_training, test_meta_training) run on
top of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gtnas.errors import GtnasError
from gtnas.runtime.checkpoint import save_checkpoint
from gtnas.runtime.rng import capture_rng_state
from gtnas.runtime.run_folder import CONFIG_FILE, RunFolder


def test_a_new_run_refuses_a_folder_that_holds_one(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run", command="gtnas arch train", finished=("result.json",))
    assert folder.open(resume=False) is None  # an empty or missing folder is free
    folder.create()
    (folder.path / "result.json").write_text("{}")
    with pytest.raises(GtnasError, match="already holds a run; pass --resume"):
        folder.open(resume=False)


def test_a_resume_needs_a_started_run(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, command="gtnas teach train")
    with pytest.raises(GtnasError, match=r"nothing to resume .* `gtnas teach train`"):
        folder.open(resume=True)
    (tmp_path / CONFIG_FILE).write_text("{}")
    assert folder.holds_run() and folder.open(resume=True) is None  # started, no checkpoint yet


def test_save_and_restore_carry_generators_time_and_state(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, command="x")
    folder.create()
    (tmp_path / CONFIG_FILE).write_text("{}")
    generator = torch.Generator().manual_seed(3)
    torch.rand(5, generator=generator)
    folder._seconds_before = 100.0  # as if an earlier session had run 100 s
    folder.save(7, tensors={"w": torch.ones(2)}, state={"step": 7}, generators={"g": generator})
    expected = torch.rand(4, generator=generator)

    again = RunFolder(tmp_path, command="x")
    checkpoint = again.open(resume=True)
    assert checkpoint is not None and checkpoint.step == 7
    fresh = torch.Generator().manual_seed(0)
    state = again.restore(checkpoint, {"g": fresh})
    assert state["step"] == 7 and torch.equal(checkpoint.tensors["w"], torch.ones(2))
    assert torch.equal(torch.rand(4, generator=fresh), expected)  # continues the stream
    assert 100.0 <= again.elapsed() < 160.0


@pytest.mark.parametrize(
    "state",
    [{"seconds": 42.0}, {"progress": {"elapsed": 42.0}}],
    ids=["meta-training", "final-training"],
)
def test_checkpoints_from_before_the_module_resume_with_their_time(
    tmp_path: Path, state: dict
) -> None:
    generator = torch.Generator().manual_seed(1)
    tensors, rng = capture_rng_state({"g": generator})
    save_checkpoint(tmp_path, 3, tensors=tensors, state={**state, "rng": rng})
    (tmp_path / CONFIG_FILE).write_text("{}")
    folder = RunFolder(tmp_path, command="x")
    folder.restore(folder.open(resume=True), {"g": torch.Generator()})
    assert 42.0 <= folder.elapsed() < 100.0


def test_the_log_is_cut_back_to_the_checkpoint(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, command="x")
    folder.create()
    for step in range(1, 6):
        folder.metrics.append({"step": step})
    save_checkpoint(tmp_path, 3, tensors={}, state={"rng": {}})
    (tmp_path / CONFIG_FILE).write_text("{}")
    folder.keep_log_until(folder.open(resume=True), key="step")
    assert [r["step"] for r in folder.metrics.read()] == [1, 2, 3]
    folder.keep_log_until(None, key="step")  # no checkpoint: the log starts over
    assert folder.metrics.read() == []


def test_only_the_writing_rank_writes(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run", command="x", writes=False)
    folder.create()
    folder.save(1, tensors={}, state={}, generators={})
    assert not (tmp_path / "run").exists()
