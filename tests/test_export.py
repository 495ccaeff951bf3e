"""Saving and loading a found network (gtnas.export.bundle) and its ONNX export (gtnas.export.onnx),
for every registered search space."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gtnas.config import config_to_dict
from gtnas.errors import GtnasError
from gtnas.export import load_network, read_network, save_network
from gtnas.export.onnx import export_onnx, verify_onnx
from gtnas.learners.layers import init_learner
from gtnas.seeding import make_generator
from gtnas.spaces import SEARCH_SPACES, create_space

IMAGE_SHAPE = (1, 16, 16)  # small images keep every space's forward pass cheap
CLASSES = 5
SPACES = SEARCH_SPACES.names()


# One torch thread: tiny networks, where threads only add overhead (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


def trained_network(name: str, seed: int = 0):
    """(space, genotype, network) for the ``seed``-th sample of space ``name`` at its tiny
    blueprint, after 3 SGD steps in train mode so BatchNorm's running statistics are not their
    initial zeros and ones."""
    space = create_space(name)
    generator = make_generator(seed)
    genotype = space.sample(generator)
    network = space.build(genotype, IMAGE_SHAPE, CLASSES, norm="bn", blueprint="tiny")
    init_learner(network, generator)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01)
    network.train()
    for _ in range(3):
        images = torch.randn(8, *IMAGE_SHAPE, generator=generator)  # (8, 1, 16, 16)
        labels = torch.randint(CLASSES, (8,), generator=generator)
        loss = torch.nn.functional.cross_entropy(network(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    return space, genotype, network


def save(directory: Path, name: str = "nb201"):
    space, genotype, network = trained_network(name)
    save_network(
        directory,
        space,
        genotype,
        network,
        image_shape=IMAGE_SHAPE,
        num_classes=CLASSES,
        blueprint="tiny",
        extra={"mean": [0.5], "std": [0.25], "class_names": list("abcde")},
    )
    return space, genotype, network


@pytest.mark.parametrize("name", SPACES)
def test_save_then_load_gives_the_same_network(tmp_path, name):
    space, genotype, network = save(tmp_path, name)
    running_means = [m.running_mean for m in network.modules() if hasattr(m, "running_mean")]
    assert running_means and any(bool(mean.abs().sum() > 0) for mean in running_means)

    loaded = read_network(tmp_path)
    assert not loaded.module.training
    assert space.format(loaded.genotype) == space.format(genotype)
    assert loaded.image_shape == IMAGE_SHAPE and loaded.num_classes == CLASSES
    saved_state, loaded_state = network.state_dict(), loaded.module.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    for key, tensor in saved_state.items():  # BatchNorm buffers included
        assert torch.equal(tensor, loaded_state[key]), key
    images = torch.randn(4, *IMAGE_SHAPE, generator=make_generator(1))
    with torch.no_grad():
        assert torch.equal(network(images), load_network(tmp_path)(images))

    network_json = json.loads((tmp_path / "network.json").read_text())
    assert network_json["image_shape"] == list(IMAGE_SHAPE)
    assert network_json["num_classes"] == CLASSES and network_json["norm"] == "bn"
    assert network_json["blueprint"] == config_to_dict(space.blueprints["tiny"])
    assert network_json["mean"] == [0.5] and network_json["class_names"] == list("abcde")
    assert network_json["parameters"] == sum(p.numel() for p in network.parameters())
    assert loaded.info["std"] == [0.25]
    assert json.loads((tmp_path / "genotype.json").read_text()) == space.to_json(genotype)


def test_weights_file_is_safetensors_and_a_pickle_is_never_run(tmp_path):
    save(tmp_path)
    assert set(load_file(tmp_path / "model.safetensors")) == set(
        load_network(tmp_path).state_dict()
    )
    marker = tmp_path / "pwned"

    class Payload:  # unpickling this would create the marker file
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(GtnasError, match="is not a valid safetensors file"):
        load_network(tmp_path)
    assert not marker.exists()


def test_a_swapped_genotype_is_named(tmp_path):
    space, genotype, _ = save(tmp_path)
    other = space.mutate(genotype, make_generator(5))
    (tmp_path / "genotype.json").write_text(json.dumps(space.to_json(other)))
    with pytest.raises(GtnasError) as info:
        load_network(tmp_path)
    message = str(info.value)
    assert "model.safetensors does not match genotype.json" in message
    assert space.format(genotype) in message and space.format(other) in message


def test_weights_that_do_not_fit_are_listed(tmp_path):
    save(tmp_path)
    weights = tmp_path / "model.safetensors"
    tensors = load_file(weights)
    # No genotype in the metadata (as from another tool): the tensors themselves are compared.
    first = sorted(tensors)[0]
    tensors["stray.weight"] = tensors.pop(first)
    save_file(tensors, weights)
    with pytest.raises(GtnasError) as info:
        load_network(tmp_path)
    message = str(info.value)
    assert message.startswith("model.safetensors does not match genotype.json")
    assert f"missing {first}" in message and "unexpected stray.weight" in message

    save(tmp_path)  # a blueprint with other widths: same names, other shapes
    network_json = json.loads((tmp_path / "network.json").read_text())
    network_json["blueprint"]["channels"] *= 2
    (tmp_path / "network.json").write_text(json.dumps(network_json))
    with pytest.raises(GtnasError, match=r"does not match genotype.json: shape .* should be"):
        load_network(tmp_path)


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / "genotype.json").unlink(), "genotype.json is missing"),
        (lambda d: (d / "network.json").write_text("{"), "network.json is not valid JSON"),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
        (
            lambda d: (d / "model.safetensors").write_bytes(
                (d / "model.safetensors").read_bytes()[:100]
            ),
            "is not a valid safetensors file",
        ),
        (
            lambda d: (d / "genotype.json").write_text('{"space": "nope", "genotype": "x"}'),
            "unknown search space 'nope'",
        ),
    ],
)
def test_missing_or_corrupt_files_are_one_line_errors(tmp_path, damage, message):
    save(tmp_path)
    damage(tmp_path)
    with pytest.raises(GtnasError) as info:
        load_network(tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_save_refuses_a_module_of_another_genotype(tmp_path):
    space, genotype, network = trained_network("nb201")
    with pytest.raises(GtnasError, match="is not the network of"):
        save_network(
            tmp_path, space, genotype, network, image_shape=(1, 16, 16), num_classes=7,
            blueprint="tiny",
        )  # fmt: skip


def test_run_folder_without_a_data_section_uses_the_registered_data_set(tmp_path):
    """An `arch train` run folder: config.json (FinalTrainConfig fields) instead of
    network.json; the shape of MNIST comes from the catalog, without loading MNIST."""
    space = create_space("nb201")
    genotype = space.sample(make_generator(2))
    network = space.build(genotype, (1, 28, 28), 10, norm="bn", blueprint="tiny")
    (tmp_path / "config.json").write_text(json.dumps({"dataset": "mnist", "blueprint": "tiny"}))
    (tmp_path / "genotype.json").write_text(json.dumps(space.to_json(genotype)))
    save_file({k: v.contiguous() for k, v in network.state_dict().items()},
              tmp_path / "model.safetensors")  # fmt: skip
    loaded = read_network(tmp_path)
    assert loaded.image_shape == (1, 28, 28) and loaded.num_classes == 10
    assert loaded.info["mean"] == [0.1307] and loaded.info["dataset"] == "mnist"


@pytest.mark.slow
def test_a_finished_training_run_loads_with_its_recorded_accuracy(tmp_path):
    """The trainer's run folder loads; the loaded network scores exactly the validation
    accuracy the run recorded (an independent check of weights and BatchNorm statistics)."""
    from gtnas.data.dataset import Dataset, Split
    from gtnas.training.recipe import FinalTrainConfig
    from gtnas.training.trainer import train_network

    generator = make_generator(0)

    def split(n: int) -> Split:
        labels = torch.arange(n) % CLASSES
        images = torch.randn(n, *IMAGE_SHAPE, generator=generator) + labels.view(-1, 1, 1, 1)
        return Split(images, labels)

    dataset = Dataset(
        name="synthetic", train=split(64), val=split(40), test=split(40), num_classes=CLASSES,
        image_shape=IMAGE_SHAPE, mean=(0.5,), std=(0.25,), class_names=tuple("abcde"),
        source="test", folder=tmp_path,
    )  # fmt: skip
    config = FinalTrainConfig(
        dataset="synthetic", blueprint="tiny", epochs=1, batch_size=16, augmentation="none",
        device="cpu",
    )  # fmt: skip
    space = create_space("nb201")
    genotype = space.sample(make_generator(4))
    run = tmp_path / "run"
    train_network(space, genotype, dataset, config, run, show_progress=False)

    loaded = read_network(run)
    assert loaded.info["mean"] == [0.5] and loaded.info["class_names"] == list("abcde")
    with torch.no_grad():
        predictions = loaded.module(dataset.val.images).argmax(dim=1)
    accuracy = (predictions == dataset.val.labels).sum().item() / len(dataset.val)
    recorded = json.loads((run / "result.json").read_text())["val_accuracy"]
    assert accuracy == pytest.approx(recorded, abs=1e-9)


# --- ONNX -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_onnx_model_matches_pytorch_at_batch_1_and_5(tmp_path, name):
    _, _, network = trained_network(name)
    path = export_onnx(network, tmp_path / "model.onnx", image_shape=IMAGE_SHAPE)
    assert network.training is False  # handed back in the mode it came in
    import onnx

    model = onnx.load(str(path))
    assert {p.key: p.value for p in model.metadata_props}["gtnas.exporter"].startswith(
        "torch.export"
    )
    batch_axis = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_axis.dim_param  # named, i.e. dynamic
    generator = make_generator(3)
    for batch in (1, 5):
        images = torch.randn(batch, *IMAGE_SHAPE, generator=generator)
        with torch.no_grad():
            scale = max(1.0, network(images).abs().max().item())
        # float32 rounding grows with the logits: gtn-cell's reach ~500 in eval mode after 3
        # steps (BatchNorm statistics not yet settled), where 1e-4 is PyTorch's own error
        assert verify_onnx(network, path, images) <= 1e-4 * scale


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """nb201's network and its ONNX export, shared by the tests below."""
    _, _, network = trained_network("nb201")
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return network, export_onnx(network, path, image_shape=IMAGE_SHAPE)


def test_verify_onnx_catches_a_model_that_differs(exported):
    network, path = exported
    images = [torch.randn(b, *IMAGE_SHAPE, generator=make_generator(b)) for b in (1, 5)]
    assert verify_onnx(network, path, images) <= 1e-4
    changed = trained_network("nb201")[2]
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.add_(0.01)
    with pytest.raises(GtnasError, match="differs from PyTorch by up to"):
        verify_onnx(changed, path, images)
    with pytest.raises(GtnasError, match="gives outputs of shape"):
        verify_onnx(torch.nn.Sequential(torch.nn.Flatten()), path, images)


def test_falls_back_to_the_torchscript_exporter(tmp_path, monkeypatch):
    _, _, network = trained_network("nb201")
    real_export = torch.onnx.export

    def dynamo_fails(*args, **kwargs):
        if kwargs.get("dynamo", True):
            raise RuntimeError("cannot capture this network")
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    path = export_onnx(network, tmp_path / "model.onnx", image_shape=IMAGE_SHAPE)
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert metadata["gtnas.exporter"] == "torchscript (fallback)"
    images = [torch.randn(b, *IMAGE_SHAPE, generator=make_generator(b)) for b in (1, 5)]
    assert verify_onnx(network, path, images) <= 1e-4


def test_missing_onnx_packages_name_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a),
    )
    with pytest.raises(GtnasError, match=r"needs onnxscript: pip install 'gtnas\[export\]'"):
        export_onnx(torch.nn.Identity(), tmp_path / "m.onnx", image_shape=IMAGE_SHAPE)
