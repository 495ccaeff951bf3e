"""``gtnas arch train``: train a found architecture from scratch on real data.

A plain function with Typer annotations; :mod:`gtnas.cli.arch` registers it as the ``train``
command of the ``arch`` group. Options resolve into a :class:`FinalTrainConfig` the way
``gtnas teach train`` does it: defaults, then ``--config FILE``, then explicit options, then
``--set key=value``; unknown keys and bad values stop the command with one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gtnas.cli.options import nest, parse_set, read_config_file
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.errors import ConfigError

console = Console()

# The space modules register themselves on import; `import gtnas.spaces` will import them all
# once the package does so, until then they are imported here.


def train(
    genotype: str = typer.Argument(
        None,
        metavar="GENOTYPE",
        help="'<space>:<genotype string>' (see `gtnas arch sample`) or a genotype JSON file; "
        "omit it with --resume.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run folder (created; holds checkpoints, metrics, weights)."
    ),
    dataset: str = typer.Option(
        None,
        "--dataset",
        "-d",
        help="mnist, fashion-mnist, cifar10, idx:DIR or cifar:DIR. (default: mnist)",
    ),
    epochs: int = typer.Option(None, help="Passes over the training split. (default: 10)"),
    blueprint: str = typer.Option(
        None,
        help="Network size: a preset of the space (tiny, search, final) or a JSON object of "
        "its blueprint fields. (default: final)",
    ),
    batch_size: int = typer.Option(None, help="Images per SGD step. (default: 128)"),
    lr: float = typer.Option(None, help="Peak learning rate (cosine to 0). (default: 0.05)"),
    seed: int = typer.Option(None, help="Seed of weights, data order, augmentation. (default: 0)"),
    device: str = typer.Option(None, help="auto, cpu, cuda or cuda:N. (default: auto)"),
    train_subset: int = typer.Option(
        None, help="Train on the first N training images only (quick runs). (default: all)"
    ),
    config: Path = typer.Option(
        None, "--config", help="JSON file with config values (the config.json of a run works)."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override any config key: --set weight_decay=3e-4 (repeatable)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from its last checkpoint."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a genotype's network on real data; report validation and test accuracy."""
    from gtnas.data import load_dataset
    from gtnas.data.catalog import check_name
    from gtnas.runtime.device import resolve_device
    from gtnas.spaces import parse_genotype
    from gtnas.training.augment import policy_name
    from gtnas.training.recipe import FinalTrainConfig
    from gtnas.training.trainer import GENOTYPE_FILE, load_train_config, train_network

    explicit = nest(
        {
            "dataset": dataset,
            "epochs": epochs,
            "blueprint": None if blueprint is None else _parse_blueprint(blueprint),
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "device": device,
            "train_subset": train_subset,
        }
    )
    if resume:
        if explicit or config or set_:
            raise ConfigError(
                "--resume continues with the run's saved config; drop the other options"
            )
        run_config = load_train_config(out)
        space, parsed = parse_genotype(genotype or str(out / GENOTYPE_FILE))
    else:
        if genotype is None:
            raise ConfigError(
                "give the GENOTYPE to train ('<space>:<string>' or a JSON file), "
                "or --resume to continue a run"
            )
        space, parsed = parse_genotype(genotype)
        values = config_to_dict(FinalTrainConfig())
        if config:
            from_file = read_config_file(config)
            from_file.pop("data", None)  # a run's config.json: what it recorded about the data
            values = _merge(values, from_file, space)
        values = _merge(_merge(values, explicit, space), parse_set(set_), space)
        run_config = config_from_dict(FinalTrainConfig, values)

    # Check what can be checked before the data set loads.
    check_name(run_config.dataset)
    space.resolve_blueprint(run_config.blueprint)
    policy_name(run_config.augmentation, run_config.dataset)
    resolve_device(run_config.device)

    console.print(
        f"[bold]run[/] {escape(str(out))}  {escape(space.format(parsed)[:80])}  "
        f"dataset={escape(run_config.dataset)} "
        f"blueprint={escape(_blueprint_text(run_config.blueprint))} epochs={run_config.epochs}",
        highlight=False,
    )
    data = load_dataset(run_config.dataset, quiet=quiet)
    result = train_network(
        space, parsed, data, run_config, out, resume=resume, show_progress=not quiet
    )
    table = Table(title=escape(f"{space.name} on {data.name}, trained {result.epochs} epochs"))
    table.add_column("measure")
    table.add_column("value", justify="right")
    seconds_per_epoch = result.train_seconds / max(1, result.epochs)
    rows = [
        ("validation accuracy", _percent(result.val_accuracy)),
        ("test accuracy", _percent(result.test_accuracy)),
        ("parameters", f"{result.parameters:,}"),
        ("FLOPs per image", f"{result.flops / 1e6:,.1f} M ({result.flops // 2 / 1e6:,.1f} M MACs)"),
        ("seconds per epoch", f"{seconds_per_epoch:,.1f}"),
        ("training time", f"{result.train_seconds:,.0f} s"),
        ("non-finite steps skipped", str(result.skipped_steps)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"weights, metrics and result.json in {escape(str(out))}", highlight=False)


def _merge(values: dict[str, Any], overrides: dict[str, Any], space: Any) -> dict[str, Any]:
    """``overrides`` over ``values``; a blueprint given as a dict edits the current blueprint,
    so ``--blueprint tiny --set blueprint.channels=2`` is the tiny preset 2 channels wide."""
    if isinstance(overrides.get("blueprint"), dict) and isinstance(values.get("blueprint"), str):
        values = {
            **values,
            "blueprint": config_to_dict(space.resolve_blueprint(values["blueprint"])),
        }
    return merge_values(values, overrides)


def _parse_blueprint(text: str) -> str | dict[str, Any]:
    """A preset name, or a JSON object of blueprint fields."""
    text = text.strip()
    if not text.startswith("{"):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--blueprint JSON is malformed: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError("--blueprint must be a preset name or a JSON object")
    return value


def _blueprint_text(blueprint: str | dict[str, Any]) -> str:
    return blueprint if isinstance(blueprint, str) else json.dumps(blueprint, separators=(",", ":"))


def _percent(value: float | None) -> str:
    return "n/a (run not finished)" if value is None else f"{100 * value:.2f}%"
