"""``gtnas arch``: the search spaces and the architectures in them - list the spaces, sample
genotypes, show and draw one, train it (:mod:`gtnas.cli.arch_train`) and export the trained
network.

Genotypes are given as ``<space>:<canonical string>`` or as a path to a genotype JSON file
(``{"space": ..., "genotype": ..., "options": {...}}``), the forms ``sample`` prints.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gtnas.cli import arch_train
from gtnas.cli.options import parse_set
from gtnas.errors import ConfigError

app = typer.Typer(
    help="Search spaces and architectures: list, sample, draw, train, export.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

GENOTYPE_HELP = "'<space>:<genotype string>' (see `gtnas arch sample`) or a genotype JSON file."
SET_HELP = "A space option: --set nodes=5 (repeatable; see `gtnas arch spaces --json`)."
# Batch sizes the exported ONNX model is checked at: 1 and an odd size > 1, so that a batch
# axis frozen at the export's example size (2) would show up as an error.


@app.command("spaces")
def spaces(
    as_json: bool = typer.Option(False, "--json", help="Print the descriptions as JSON."),
) -> None:
    """List the registered search spaces: size, operations and blueprint presets."""
    from gtnas.spaces import SEARCH_SPACES, create_space

    described = [create_space(name).describe() for name in SEARCH_SPACES]
    if as_json:
        console.print_json(json.dumps(described))
        return
    table = Table(title="search spaces", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("what it is")
    table.add_column("decisions", justify="right")
    table.add_column("log10 size", justify="right")
    table.add_column("operations", overflow="fold")  # op names have no spaces to wrap at
    table.add_column("blueprints", overflow="fold")
    for entry in described:
        table.add_row(
            escape(entry["name"]),
            escape(entry["help"]),
            str(entry["decisions"]),
            f"{entry['log10_size']:.1f}",
            escape(", ".join(entry["ops"])),
            escape(", ".join(entry["blueprints"])),
        )
    console.print(table)


@app.command("sample")
def sample(
    space_name: str = typer.Option(..., "--space", help="A registered space (gtnas arch spaces)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draws: the same seed, the same ones."),
    count: int = typer.Option(1, "--count", "-n", min=1, help="How many genotypes to draw."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print one genotype JSON envelope per line instead of strings."
    ),
) -> None:
    """Draw genotypes uniformly over the space's decisions; one per line."""
    from gtnas.seeding import make_generator
    from gtnas.spaces import create_space

    space = create_space(space_name, parse_set(set_))
    generator = make_generator(seed)
    for _ in range(count):  # one generator: --count 3 gives three different draws
        genotype = space.sample(generator)
        if as_json:
            typer.echo(json.dumps(space.to_json(genotype)))
        else:
            typer.echo(space.format(genotype))


@app.command("show")
def show(
    genotype_text: str = typer.Argument(..., metavar="GENOTYPE", help=GENOTYPE_HELP),
    out: Path = typer.Option(
        None, "--out", "-o", help="PNG of the cell / wiring graph. [default: <space>-<hash>.png]"
    ),
    blueprint: str = typer.Option(
        "final", "--blueprint", help="Network size: a preset of the space, or a JSON object."
    ),
    dataset: str = typer.Option(
        "mnist", "--dataset", help="Data set whose image shape and classes to build for."
    ),
    image_shape: str = typer.Option(
        None, "--image-shape", help="C,H,W instead of the data set's, e.g. 3,32,32."
    ),
    classes: int = typer.Option(
        None, "--classes", min=1, help="Classes instead of the data set's."
    ),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Print a genotype, the size of its BatchNorm network, and draw it as a PNG."""
    from gtnas.reports.graphs import draw_genotype
    from gtnas.spaces import parse_genotype
    from gtnas.training.measure import count_flops, count_parameters

    space, genotype = parse_genotype(genotype_text, parse_set(set_) or None)
    shape, num_classes = _input_shape(dataset, image_shape, classes)
    resolved = space.resolve_blueprint(_blueprint_value(blueprint))
    network = space.build(genotype, shape, num_classes, norm="bn", blueprint=resolved)
    layers = _layer_counts(network)
    flops = count_flops(network, shape)

    console.print(f"[bold]genotype[/] {escape(space.format(genotype))}")
    console.print(
        f"[bold]network[/] blueprint {escape(_blueprint_name(space, resolved))}, input "
        f"{'x'.join(map(str, shape))} -> {num_classes} classes: "
        f"{count_parameters(network):,} parameters, {flops / 1e6:,.1f} MFLOPs per image "
        f"({flops // 2 / 1e6:,.1f} M multiply-accumulates); layers: "
        + ", ".join(f"{n} {kind}" for kind, n in layers.items())
    )
    path = (
        out if out is not None else Path(f"{space.name}-{_short_hash(space.format(genotype))}.png")
    )
    try:
        written = draw_genotype(space, genotype, path)
    except NotImplementedError as exc:
        err_console.print(f"[yellow]no drawing:[/] {escape(str(exc))}")
        return
    console.print(f"wrote {escape(str(written))}")


@app.command("export")
def export(
    run_dir: Path = typer.Argument(
        ..., metavar="RUN_DIR", help="A finished `gtnas arch train` run folder (or an export)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the exported network."),
    onnx: bool = typer.Option(
        True, "--onnx/--no-onnx", help="Also write model.onnx, checked with onnxruntime."
    ),
    opset: int = typer.Option(None, "--opset", help="ONNX opset version. [default: torch's]"),
) -> None:
    """Write genotype.json, network.json, model.safetensors (and model.onnx) for deployment.

    Load the folder with gtnas.export.load_network(DIR); nothing in it can run code.

    model.onnx must match PyTorch under onnxruntime on random batches of 1 and 5 images.
    """
    from gtnas.export.bundle import (
        GENOTYPE_FILE,
        NETWORK_FILE,
        WEIGHTS_FILE,
        read_network,
        save_loaded,
    )

    if out.resolve() == run_dir.resolve():
        raise ConfigError("--out must be another folder than RUN_DIR")
    loaded = read_network(run_dir)
    onnx_path = out / "model.onnx"
    onnx_path.unlink(missing_ok=True)  # never leave a stale model beside new weights
    save_loaded(out, loaded, extra={"source": str(run_dir), **_result_summary(run_dir)})
    written = [GENOTYPE_FILE, NETWORK_FILE, WEIGHTS_FILE]
    if onnx:
        from gtnas.export.onnx import VERIFY_BATCHES, export_verified

        difference, seconds = export_verified(
            loaded.module, onnx_path, image_shape=loaded.image_shape, opset=opset
        )
        written.append(onnx_path.name)
        console.print(
            f"ONNX: exported in {seconds:.1f} s by {_exporter(onnx_path)}; "
            "onnxruntime vs PyTorch on batches of "
            f"{' and '.join(map(str, VERIFY_BATCHES))}: max |difference| {difference:.2e}"
        )
    console.print(f"wrote {escape(str(out))}: {', '.join(written)}")


# `train` lives in its own module (it is much larger than the commands above).
app.command("train")(arch_train.train)


def _input_shape(
    dataset: str, image_shape: str | None, classes: int | None
) -> tuple[tuple[int, int, int], int]:
    """(C, H, W) and classes: given explicitly, or those of a registered data set (known
    without loading it)."""
    shape = _parse_shape(image_shape) if image_shape else None
    if shape is None or classes is None:
        from gtnas.data.catalog import resolve

        spec = resolve(dataset)
        if shape is None:
            if spec.image_shape is None:
                raise ConfigError(
                    f"the image shape of {dataset} is only known once loaded; "
                    "pass --image-shape C,H,W and --classes"
                )
            shape = spec.image_shape
        if classes is None:
            classes = spec.num_classes
    return shape, classes


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise ConfigError(
            f"--image-shape expects C,H,W positive integers, e.g. 1,28,28; got {text!r}"
        )
    return values  # type: ignore[return-value]


def _blueprint_value(text: str) -> str | dict[str, Any]:
    """A preset name, or a JSON object of blueprint fields."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--blueprint is not a valid JSON object ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ConfigError("--blueprint must be a preset name or a JSON object")
    return value


def _blueprint_name(space: Any, blueprint: Any) -> str:
    names = [name for name, preset in space.blueprints.items() if preset == blueprint]
    if names:
        return names[0]
    from gtnas.config import config_to_dict

    return json.dumps(config_to_dict(blueprint))


def _layer_counts(network: Any) -> dict[str, int]:
    from torch import nn

    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    return {kind.__name__: sum(isinstance(m, kind) for m in network.modules()) for kind in kinds}


def _exporter(onnx_path: Path) -> str:
    """Which exporter wrote the model (export_onnx records it in the model's metadata)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}.get("gtnas.exporter", "unknown")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _result_summary(run_dir: Path) -> dict[str, Any]:
    """Accuracies a training run recorded (result.json), to travel with the exported network."""
    from gtnas.training.trainer import RESULT_FILE

    path = run_dir / RESULT_FILE
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(result, dict):
        return {}
    keys = ("val_accuracy", "test_accuracy", "epochs")
    return {key: result[key] for key in keys if key in result}
