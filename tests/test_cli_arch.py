"""``gtnas arch spaces | sample | show | export`` through the public entry point."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors.torch import save_file

from gtnas.cli.app import main
from gtnas.export import load_network
from gtnas.learners.layers import init_learner
from gtnas.seeding import make_generator
from gtnas.spaces import SEARCH_SPACES, create_space, genotype_from_json, parse_genotype

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NO_OPS = "nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


# One torch thread: tiny networks, where threads only add overhead (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


def test_spaces_lists_every_registered_space(capsys):
    assert main(["arch", "spaces"]) == 0
    out = capsys.readouterr().out
    for name in SEARCH_SPACES:
        assert name in out
    assert main(["arch", "spaces", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in described] == SEARCH_SPACES.names()
    nb201 = next(d for d in described if d["name"] == "nb201")
    # NAS-Bench-201: 6 edges, 5 operations each -> 5**6 = 15,625 cells
    assert nb201["decisions"] == 6
    assert nb201["log10_size"] == pytest.approx(6 * 0.69897, abs=1e-4)
    assert {"search", "final"} <= nb201["blueprints"].keys()


def test_sample_is_seeded_and_parses_back(capsys):
    assert main(["arch", "sample", "--space", "nb201", "--seed", "3"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["arch", "sample", "--space", "nb201", "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == first
    space, genotype = parse_genotype(first)
    assert space.name == "nb201" and space.format(genotype) == first

    assert main(["arch", "sample", "--space", "nb201", "--seed", "3", "--count", "4"]) == 0
    lines = capsys.readouterr().out.split()
    assert len(lines) == 4 and lines[0] == first and len(set(lines)) == 4
    assert main(["arch", "sample", "--space", "nb201", "--seed", "4"]) == 0
    assert capsys.readouterr().out.strip() != first

    assert main(["arch", "sample", "--space", "nb201", "--seed", "3", "--json", "-n", "4"]) == 0
    envelopes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [space.format(genotype_from_json(e)[1]) for e in envelopes] == lines


@pytest.mark.parametrize("name", SEARCH_SPACES.names())
def test_sample_of_every_space_parses_back(capsys, name):
    assert main(["arch", "sample", "--space", name, "--seed", "1"]) == 0
    text = capsys.readouterr().out.strip()
    space, genotype = parse_genotype(text)
    assert space.format(genotype) == text


def test_show_prints_the_network_and_draws_it(tmp_path, capsys, monkeypatch):
    text = (
        "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
        "+|skip_connect~0|none~1|nor_conv_1x1~2|"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["arch", "show", text, "--blueprint", "tiny"]) == 0
    out = capsys.readouterr().out
    space, genotype = parse_genotype(text)
    network = space.build(genotype, (1, 28, 28), 10, norm="bn", blueprint="tiny")
    assert text in out
    assert f"{sum(p.numel() for p in network.parameters()):,} parameters" in out
    default_png = tmp_path / f"nb201-{hashlib.sha256(text.encode()).hexdigest()[:8]}.png"
    assert default_png.read_bytes().startswith(PNG_MAGIC)

    png = tmp_path / "cell.png"
    assert main(["arch", "show", text, "--out", str(png), "--image-shape", "3,32,32",
                 "--classes", "100"]) == 0  # fmt: skip
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
    assert "3x32x32 -> 100 classes" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["show", "nb201:|bad|"], "nb201 genotype '|bad|'"),
        (["show", "nope:abc"], "where space is one of: gtn-cell, nb201, randwire"),
        (["sample", "--space", "nope"], "unknown search space 'nope'; choose one of: gtn-cell"),
        (["sample", "--space", "nb201", "--set", "bogus=1"], "unknown config key(s) nb201.bogus"),
        (["show", NO_OPS, "--blueprint", "huge"], "unknown blueprint 'huge'"),
        (["export", "/no/such/run", "--out", "/tmp/x"], "/no/such/run is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    assert main(["arch", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def make_run(run_dir):
    """A finished `gtnas arch train` run folder as the contract describes it (config.json with
    a data section, genotype.json, model.safetensors), with trained BatchNorm statistics."""
    space = create_space("nb201")
    generator = make_generator(7)
    genotype = space.sample(generator)
    network = space.build(genotype, (1, 12, 12), 4, norm="bn", blueprint="tiny")
    init_learner(network, generator)
    with torch.no_grad():
        for _ in range(3):  # train-mode passes update the running statistics
            network(torch.randn(8, 1, 12, 12, generator=generator) * 2 + 1)
    run_dir.mkdir()
    data = {"image_shape": [1, 12, 12], "num_classes": 4, "mean": [0.2], "std": [0.3],
            "class_names": ["w", "x", "y", "z"]}  # fmt: skip
    config = {"dataset": "idx:/somewhere", "blueprint": "tiny", "epochs": 1, "data": data}
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "genotype.json").write_text(json.dumps(space.to_json(genotype)))
    (run_dir / "result.json").write_text(json.dumps({"val_accuracy": 0.5, "test_accuracy": 0.4}))
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, run_dir / "model.safetensors", metadata={"genotype": space.format(genotype)})
    return network.eval()


def test_export_without_onnx_writes_a_bundle_that_loads(tmp_path, capsys):
    network = make_run(tmp_path / "run")
    out = tmp_path / "exported"
    assert main(["arch", "export", str(tmp_path / "run"), "--out", str(out), "--no-onnx"]) == 0
    assert "genotype.json, network.json, model.safetensors" in capsys.readouterr().out
    assert not (out / "model.onnx").exists()
    images = torch.randn(3, 1, 12, 12, generator=make_generator(0))
    with torch.no_grad():
        assert torch.equal(load_network(out)(images), network(images))
    info = json.loads((out / "network.json").read_text())
    assert info["mean"] == [0.2] and info["class_names"] == ["w", "x", "y", "z"]
    assert info["val_accuracy"] == 0.5 and info["source"] == str(tmp_path / "run")


@pytest.mark.slow
def test_export_with_onnx_verifies_it(tmp_path, capsys):
    network = make_run(tmp_path / "run")
    out = tmp_path / "exported"
    assert main(["arch", "export", str(tmp_path / "run"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "model.onnx" in printed and "max |difference|" in printed
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(out / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    images = torch.randn(7, 1, 12, 12, generator=make_generator(1))
    (logits,) = session.run(None, {session.get_inputs()[0].name: images.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(logits), network(images), atol=1e-4)


@pytest.mark.slow
def test_export_fails_when_onnx_disagrees(tmp_path, capsys, monkeypatch):
    """An exporter that gets the network wrong must not leave a model.onnx behind."""
    import copy

    import gtnas.export.onnx as onnx_export

    real_export = onnx_export.export_onnx

    def export_a_changed_network(module, path, **kwargs):
        changed = copy.deepcopy(module)
        with torch.no_grad():
            for parameter in changed.parameters():
                parameter.mul_(1.5)
        return real_export(changed, path, **kwargs)

    monkeypatch.setattr(onnx_export, "export_onnx", export_a_changed_network)
    make_run(tmp_path / "run")
    out = tmp_path / "exported"
    assert main(["arch", "export", str(tmp_path / "run"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "differs from PyTorch" in err and len(err.splitlines()) == 1
    assert not (out / "model.onnx").exists()
