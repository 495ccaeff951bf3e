"""``gtnas teach``: meta-train a teacher, evaluate it, draw it."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from gtnas.cli.options import invocation, nest, parse_set, read_config_file
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.errors import ConfigError

if TYPE_CHECKING:
    from gtnas.meta.run import TeachRunResult

app = typer.Typer(
    help="Meta-train a Generative Teaching Network (or a baseline teacher).", no_args_is_help=True
)
console = Console()
# `gtnas teach train`'s defaults: the best general recipe (configs/README.md: the paper's MNIST
# set-up with a warm start from real data and learned soft labels), under --config and options.
DEFAULTS_FILE = Path(__file__).with_name("teach_defaults.json")


def default_values() -> dict:
    """TeachRunConfig's fields with the best general recipe on top: what a run starts from."""
    from gtnas.meta.run import TeachRunConfig

    recipe = json.loads(DEFAULTS_FILE.read_text())
    return merge_values(config_to_dict(TeachRunConfig()), recipe)


@app.command("list")
def list_teachers() -> None:
    """List the registered teachers and learner samplers."""
    from gtnas.learners import LEARNER_SAMPLERS
    from gtnas.teachers import TEACHERS

    table = Table(title="teachers")
    table.add_column("name")
    table.add_column("what it is")
    for name in TEACHERS:
        table.add_row(name, TEACHERS.help(name))
    console.print(table)
    samplers = Table(title="learner samplers")
    samplers.add_column("name")
    samplers.add_column("what it is")
    for name in LEARNER_SAMPLERS:
        samplers.add_row(name, LEARNER_SAMPLERS.help(name))
    from gtnas.spaces import SEARCH_SPACES

    for name in SEARCH_SPACES:
        samplers.add_row(name, f"architectures sampled from the {name} search space")
    console.print(samplers)


@app.command("train")
def train(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Run folder (created; holds checkpoints, metrics, teacher)."
    ),
    dataset: str = typer.Option(
        None, help="Data set: mnist, fashion-mnist, cifar10, idx:DIR, cifar:DIR. (default: mnist)"
    ),
    teacher: str = typer.Option(None, help="gtn, gtn-nocurriculum, pixels or real. (default: gtn)"),
    learner: str = typer.Option(
        None,
        help="Learner sampler (fixed, random-width) or a search space (gtn-cell, nb201, "
        "randwire) to meta-train on architectures sampled from it. (default: fixed)",
    ),
    blueprint: str = typer.Option(
        None, help="Network size preset when --learner is a search space. (default: search)"
    ),
    inner_steps: int = typer.Option(None, help="Inner SGD steps T. (default: 32)"),
    batch_size: int = typer.Option(None, help="Synthetic samples per inner step. (default: 128)"),
    iterations: int = typer.Option(None, help="Outer (meta) iterations. (default: 480)"),
    meta_lr: float = typer.Option(
        None, help="Adam learning rate of the meta-parameters. (default: 0.03)"
    ),
    soft_labels: bool = typer.Option(
        None,
        "--soft-labels/--hard-labels",
        help="Learn a label distribution per sample. (default: soft)",
    ),
    gradient_checkpointing: bool = typer.Option(
        None,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Rebuild one inner step at a time in the backward pass (long unrolls).",
    ),
    seed: int = typer.Option(None, help="Seed of everything random in the run. (default: 0)"),
    device: str = typer.Option(None, help="auto, cpu, cuda or cuda:N. (default: auto)"),
    config: Path = typer.Option(
        None, "--config", help="JSON file with config values (see config.json of any run)."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="Override any config key: --set meta.grad_clip=5 (repeatable)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out from its last checkpoint; with --iterations, train it "
        "further (the cosine meta-lr schedule is stretched over the new total).",
    ),
    learners_per_step: int = typer.Option(
        None,
        help="Learners averaged per meta-step, over all processes together. (default: 1)",
    ),
    calibration: Path = typer.Option(
        None,
        "--calibration",
        help="A truth set whose first --calibration-count architectures (and their validation "
        "accuracies) the teacher meta-trains on, with --rank-weight: a ranking-aware "
        "meta-objective. rank-corr, speedup and simulate then leave them out.",
    ),
    calibration_count: int = typer.Option(
        20, help="How many of the truth set's first architectures calibrate."
    ),
    rank_weight: float = typer.Option(
        None, help="Weight of the ranking objective (needs --calibration). (default: 0, off)"
    ),
    nproc: int = typer.Option(
        1,
        "--nproc",
        help="Data-parallel processes on this machine, each training its share of every "
        "meta-step's learners (torchrun --nproc-per-node N -m gtnas teach train ... does the "
        "same, on several machines too).",
    ),
    threads: int = typer.Option(
        0,
        "--threads",
        help="Torch threads per process (0: PyTorch's default, one per core, or cores / "
        "--nproc). Beside other work on the same cores use 1: threads that wait on each other "
        "for a busy core can make an iteration many times slower.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Meta-train a teacher; checkpoints atomically and resumes exactly with --resume.

    Starts from the best general recipe (configs/mnist-teacher.json: the paper's MNIST set-up,
    a warm start from real data, learned soft labels, 480 iterations; 98.93% test accuracy),
    then --config FILE, then the options and --set.
    """
    from gtnas.meta.run import TeachRunConfig, load_run_config, run_meta_training
    from gtnas.runtime import distributed

    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    if threads < 0:
        raise ConfigError(f"--threads must be 0 (the default) or more, got {threads}")
    if threads:  # before any work; a --nproc launch passes it on to every process
        import torch

        torch.set_num_threads(threads)
    if nproc > 1 and distributed.environment_world_size() == 1:
        from gtnas.runtime.launch import launch

        launch(_without_nproc(invocation()), nproc)
        return

    explicit = nest(
        {
            "dataset": dataset,
            "teacher": teacher,
            "learner": learner,
            "blueprint": blueprint,
            "seed": seed,
            "device": device,
            "teacher_options.inner_steps": inner_steps,
            "teacher_options.batch_size": batch_size,
            "teacher_options.soft_labels": soft_labels,
            "meta.iterations": iterations,
            "meta.meta_lr": meta_lr,
            "meta.gradient_checkpointing": gradient_checkpointing,
            "meta.learners_per_step": learners_per_step,
            "meta.rank_weight": rank_weight,
            "calibration": _calibration(calibration, calibration_count) if calibration else None,
        }
    )
    if resume:
        others = set(explicit) - {"meta"} | set(explicit.get("meta", {})) - {"iterations"}
        if config or set_ or others:
            raise ConfigError(
                "--resume continues with the run's saved config; drop the other options "
                "(--iterations may change, to train a run further)"
            )
        run_config = load_run_config(out)
        if iterations is not None:
            run_config = replace(run_config, meta=replace(run_config.meta, iterations=iterations))
    else:
        values = default_values()
        if config:
            values = merge_values(values, read_config_file(config))
        values = merge_values(merge_values(values, explicit), parse_set(set_))
        run_config = config_from_dict(TeachRunConfig, values)

    main = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 alone reports
    if main:
        processes = distributed.environment_world_size()
        console.print(
            f"[bold]run[/] {out}  teacher={run_config.teacher} dataset={run_config.dataset} "
            f"T={run_config.teacher_options.inner_steps} iterations={run_config.meta.iterations}"
            + (f" processes={processes}" if processes > 1 else "")
        )
    try:
        result = run_meta_training(run_config, out, resume=resume, show_progress=not quiet)
    finally:
        distributed.leave()
    if main:
        _report(result, out)
    if distributed.environment_world_size() > 1:
        distributed.exit_finished_rank()  # gloo can abort a rank at exit (see there)


def _report(result: TeachRunResult, out: Path) -> None:
    """Rank 0's plots and closing line of a finished meta-training."""
    from gtnas.reports.teaching import draw_run_plots

    last_val = next(
        (h["val_acc"] for h in reversed(result.history) if h.get("val_acc") is not None), None
    )
    draw_run_plots(out)
    console.print(
        f"done: {result.iterations} iterations in {result.seconds:.0f} s, "
        f"{result.skipped} non-finite steps skipped, last validation accuracy "
        f"{'n/a' if last_val is None else f'{last_val:.4f}'}; teacher and plots in {out}"
    )


def _calibration(path: Path, count: int) -> dict[str, float]:
    from gtnas.analysis.truthset import calibration_accuracies, load_truth

    return calibration_accuracies(load_truth(path), count)


def _without_nproc(argv: list[str]) -> list[str]:
    """The command line a launched rank runs: this one without ``--nproc N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


@app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., metavar="RUN", help="A finished teach run folder."),
    learners: int = typer.Option(10, help="Fresh learners per architecture kind."),
    sampled: bool = typer.Option(
        True, "--sampled/--no-sampled", help="Also evaluate sampled architectures."
    ),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Evaluate real data at the same T with a tuned lr."
    ),
    match: bool = typer.Option(
        True, "--match/--no-match", help="Find the real-data steps that match the teacher."
    ),
    seed: int = typer.Option(
        1000, help="Seed of the evaluated learners (never the training ones)."
    ),
    device: str = typer.Option("auto", help="auto, cpu, cuda or cuda:N."),
) -> None:
    """Train fresh learners on the teacher and report TEST accuracy against real data."""
    from gtnas.meta.run_assessment import assess_run
    from gtnas.reports.teaching import draw_assessment

    report = assess_run(
        run,
        learners=learners,
        sampled=sampled,
        baseline=baseline,
        match=match,
        seed=seed,
        device=device,
        say=lambda m: console.print(f"[dim]{m}[/]"),
        show_progress=True,
    )
    title = f"{report['teacher']} on {report['dataset']}: {report['inner_steps']} inner steps"
    table = Table(title=f"{title}, test split")
    for column in ("learners", "n", "mean acc", "std", "min"):
        table.add_column(column, justify="right" if column != "learners" else "left")
    for key, label in (
        ("default", f"{report['teacher']} (default arch)"),
        ("sampled", f"{report['teacher']} (sampled archs)"),
        ("real", f"real data, lr {report.get('real', {}).get('lr', '')}"),
    ):
        if key in report:
            s = report[key]
            table.add_row(
                label, str(s["n"]), f"{s['mean']:.4f}", f"{s['std']:.4f}", f"{s['min']:.4f}"
            )
    console.print(table)
    if "real_steps_to_match" in report:
        needed = report["real_steps_to_match"]
        console.print(
            "real data needs "
            + (
                f"{needed} steps to match ({report['steps_speedup']:.1f}x)"
                if needed
                else "more steps than tried to match"
            )
        )
    console.print(f"wrote {run / 'eval.json'} and {draw_assessment(run)}")


@app.command("show")
def show(run: Path = typer.Argument(..., metavar="RUN", help="A teach run folder.")) -> None:
    """Redraw a run's plots: curriculum grid and meta-training curves."""
    from gtnas.reports.teaching import draw_run_plots

    written = draw_run_plots(run)
    console.print(json.dumps({"plots": [str(p) for p in written]}, indent=2))
