"""Checkpoints: exact round trips, resume == uninterrupted run, crash safety, clear errors."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gtnas.errors import GtnasError
from gtnas.runtime import checkpoint as checkpoint_module
from gtnas.runtime.checkpoint import (
    flatten_state,
    load_checkpoint,
    save_checkpoint,
    unflatten_state,
)
from gtnas.runtime.rng import capture_rng_state, restore_rng_state


def _pairs(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").glob("step-*"))


def test_round_trip_tensors_and_nested_state(tmp_path: Path) -> None:
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    tensors = {
        "weight": base.t(),  # non-contiguous
        "tied": base,  # shares storage with "weight"
        "mask": torch.tensor([True, False]),
        "count": torch.tensor(7, dtype=torch.int64),  # 0-d
    }
    state = {
        "iteration": 5,
        "config": {"betas": (0.9, 0.999), "name": "gtn", "sizes": [1, 2, 3]},
        "by_index": {0: "a", 1: {"deep": [None, True, 1.5]}},
        "history": [{"loss": math.inf}, {"loss": -math.inf}],
        "extra": {"__tensor__": "looks like a tag but is user data"},
        "lr": torch.tensor(0.02),
        "np_number": np.float32(0.5),
    }
    path = save_checkpoint(tmp_path, 5, tensors=tensors, state=state)
    assert path.name == "step-00000005.json"
    assert (tmp_path / "checkpoints" / "step-00000005.safetensors").exists()

    loaded = load_checkpoint(tmp_path)
    assert loaded is not None and loaded.step == 5 and loaded.path == path
    assert set(loaded.tensors) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded.tensors[name].dtype == tensor.dtype
        assert torch.equal(loaded.tensors[name], tensor)
    restored = loaded.state
    assert restored["config"] == state["config"] and isinstance(restored["config"]["betas"], tuple)
    assert restored["by_index"] == state["by_index"]
    assert restored["history"] == state["history"]
    assert restored["extra"] == state["extra"]
    assert torch.equal(restored["lr"], state["lr"]) and restored["np_number"] == 0.5


def test_no_checkpoint_yet_returns_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path) is None


def test_flatten_rejects_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="optimizer/hook"):
        flatten_state({"hook": lambda x: x}, "optimizer")


def _make_training(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.9))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.005)
    return model, optimizer, scheduler


def _train(model, optimizer, scheduler, generator: torch.Generator, steps: int) -> None:
    for _ in range(steps):
        # Draw from every generator a real run would, so restoring each one matters.
        inputs = torch.randn(16, 4, generator=generator)
        targets = torch.randn(16, 1) + float(np.random.rand()) + random.random()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def test_resumed_run_matches_uninterrupted_run(tmp_path: Path) -> None:
    """Save mid-run, rebuild everything fresh from the checkpoint, continue: bit-identical."""
    model, optimizer, scheduler = _make_training()
    generator = torch.Generator().manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    _train(model, optimizer, scheduler, generator, steps=3)

    rng_tensors, rng_state = capture_rng_state({"data": generator})
    save_checkpoint(
        tmp_path,
        3,
        tensors={**model.state_dict(), **rng_tensors},
        state={
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state,
        },
    )
    _train(model, optimizer, scheduler, generator, steps=4)  # the uninterrupted run

    fresh_model, fresh_optimizer, fresh_scheduler = _make_training(seed=99)
    fresh_generator = torch.Generator().manual_seed(123)
    random.seed(0)
    np.random.seed(0)
    loaded = load_checkpoint(tmp_path)
    assert loaded is not None
    fresh_model.load_state_dict({k: v for k, v in loaded.tensors.items() if "rng/" not in k})
    fresh_optimizer.load_state_dict(loaded.state["optimizer"])
    fresh_scheduler.load_state_dict(loaded.state["scheduler"])
    restore_rng_state(loaded.tensors, loaded.state["rng"], {"data": fresh_generator})
    _train(fresh_model, fresh_optimizer, fresh_scheduler, fresh_generator, steps=4)

    for expected, actual in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(expected, actual)
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    saved_groups = loaded.state["optimizer"]["param_groups"]
    assert isinstance(saved_groups[0]["betas"], tuple)
    assert loaded.state["optimizer"]["state"][0]["step"].dtype == torch.float32


def test_optimizer_state_flattens_to_prefixed_tensors_and_json() -> None:
    model, optimizer, scheduler = _make_training()
    _train(model, optimizer, scheduler, torch.Generator().manual_seed(0), steps=2)
    saved = optimizer.state_dict()
    tensors, encoded = flatten_state(saved, "optimizer")
    assert "optimizer/state/0/exp_avg" in tensors and all(
        k.startswith("optimizer/") for k in tensors
    )
    restored = unflatten_state(tensors, encoded)
    assert restored["param_groups"] == saved["param_groups"]
    assert restored["state"].keys() == saved["state"].keys()


def _fail_on(monkeypatch: pytest.MonkeyPatch, predicate) -> None:
    real = checkpoint_module.atomic_write_bytes

    def flaky(path: Path, data: bytes) -> None:
        if predicate(Path(path)):
            raise OSError("simulated crash")
        real(path, data)

    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", flaky)


@pytest.mark.parametrize("crash_before", ["state json", "latest.json"])
def test_crash_mid_save_leaves_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_before: str
) -> None:
    save_checkpoint(tmp_path, 1, tensors={"w": torch.ones(3)}, state={"iteration": 1})
    if crash_before == "latest.json":
        _fail_on(monkeypatch, lambda p: p.name == "latest.json")
    else:
        _fail_on(monkeypatch, lambda p: p.suffix == ".json" and p.name.startswith("step-"))
    for step in (2, 1):  # a new step, then re-saving the committed one in place
        with pytest.raises(OSError, match="simulated crash"):
            save_checkpoint(tmp_path, step, tensors={"w": torch.zeros(3)}, state={"iteration": 9})
        loaded = load_checkpoint(tmp_path)
        assert loaded is not None and loaded.step == 1 and loaded.state == {"iteration": 1}
        assert torch.equal(loaded.tensors["w"], torch.ones(3))

    monkeypatch.undo()
    save_checkpoint(tmp_path, 2, tensors={"w": torch.zeros(3)}, state={"iteration": 2})
    loaded = load_checkpoint(tmp_path)
    assert loaded is not None and loaded.step == 2


def test_pruning_keeps_newest_pairs_and_drops_abandoned_ones(tmp_path: Path) -> None:
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, tensors={"w": torch.full((2,), step)}, state={}, keep=2)
    assert _pairs(tmp_path) == [
        "step-00000003.json",
        "step-00000003.safetensors",
        "step-00000004.json",
        "step-00000004.safetensors",
    ]
    # Re-saving the latest step writes beside it, then replaces it.
    save_checkpoint(tmp_path, 4, tensors={"w": torch.full((2,), 40)}, state={}, keep=2)
    assert _pairs(tmp_path)[-2:] == ["step-00000004-b.json", "step-00000004-b.safetensors"]
    assert len(_pairs(tmp_path)) == 4
    # A run resumed from step 3 (say) supersedes steps after it once it commits.
    (tmp_path / "checkpoints" / ".step-00000005.json.abc.tmp").write_text("half")
    save_checkpoint(tmp_path, 2, tensors={"w": torch.zeros(2)}, state={}, keep=3)
    assert _pairs(tmp_path) == ["step-00000002.json", "step-00000002.safetensors"]
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("target", "damage"),
    [
        ("step-00000007.safetensors", lambda p: p.write_bytes(p.read_bytes()[:-5])),
        ("step-00000007.safetensors", lambda p: p.unlink()),
        ("step-00000007.json", lambda p: p.write_text('{"format": 1, "st')),
        ("latest.json", lambda p: p.write_text("not json")),
        ("latest.json", lambda p: p.write_text('{"step": 7, "state_file": "../../etc/x.json"}')),
    ],
)
def test_damaged_checkpoint_raises_one_clear_line(tmp_path: Path, target: str, damage) -> None:
    save_checkpoint(tmp_path, 7, tensors={"w": torch.randn(5)}, state={"iteration": 7})
    damage(tmp_path / "checkpoints" / target)
    with pytest.raises(GtnasError) as caught:
        load_checkpoint(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert target in message and "checkpoints to start over" in message and "--resume" in message
