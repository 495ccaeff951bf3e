"""``gtnas truth``: build ground-truth sets (architectures trained on real data) and export them
as the small JSON files ``gtnas rank-corr`` and ``gtnas speedup`` read."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from gtnas.cli.options import nest, parse_set, read_config_file
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.search.study import TrialRecord

app = typer.Typer(
    help="Ground-truth sets: sampled architectures trained on real data, to measure proxies.",
    no_args_is_help=True,
)
console = Console()
DEFAULT_RUNS = Path("runs/truth")


@app.command("build")
def build(
    space: str = typer.Option(
        None, help="Search space: nb201, gtn-cell, randwire. (default: nb201)"
    ),
    dataset: str = typer.Option(None, help="Data set. (default: mnist)"),
    n: int = typer.Option(None, "--n", help="Architectures to train. (default: 100)"),
    epochs: int = typer.Option(None, help="Training epochs per architecture. (default: 7)"),
    train_subset: int = typer.Option(
        None, help="Train on the first N training images; 0: all. (default: all)"
    ),
    blueprint: str = typer.Option(None, help="Network size trained. (default: search-head3)"),
    seed: int = typer.Option(
        None, help="Seeds the sampling; the first training seed. (default: 0)"
    ),
    seeds: int = typer.Option(
        None, help="Training seeds per architecture: SEED, SEED+1, ... (default: 2)"
    ),
    seeds_for: int = typer.Option(
        None, help="Only the first N architectures get every seed. (default: all)"
    ),
    workers: int = typer.Option(None, help="Parallel trainings. (default: 2)"),
    threads: int = typer.Option(None, help="Torch threads per worker; 0: cores / workers."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:N. (default: cpu)"),
    study: str = typer.Option(
        None, help="Study name; an existing one resumes. (default: truth-DATASET-SPACE-nN-eE)"
    ),
    out: Path = typer.Option(DEFAULT_RUNS, "--out", "-o", help="Folder of truth studies and runs."),
    storage: str = typer.Option(
        None, help="Optuna storage URL. (default: sqlite:///OUT/studies.db)"
    ),
    ray: bool = typer.Option(False, "--ray", help="Train on a local Ray instance."),
    ray_address: str = typer.Option(None, help="Train on the Ray cluster at this address."),
    config: Path = typer.Option(None, help="JSON file with truth config values."),
    set_: list[str] = typer.Option(
        None, "--set", help="Override any config key: --set final.batch_size=64 (repeatable)."
    ),
    export: Path = typer.Option(
        None,
        help="Keep the truth-set JSON here up to date after every architecture; a build "
        "without its study (a fresh clone) continues from this file's records.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-architecture lines."),
) -> None:
    """Sample architectures (seeded) and train each with the final-training recipe.

    A long job run as a study: the same command (or --study NAME) again resumes it.

    Parallel with --workers (on a GPU: --device cuda --workers 8), or --ray. The defaults
    take about 18 hours of 2 CPU cores per data set on the machine that trained most of the
    shipped set, about 5 times that on a slower one; the time left is printed when a build
    continues (at the pace of its latest trainings) and after each architecture (at this
    run's).
    """
    from gtnas.cli.search import _existing_study
    from gtnas.search.truth_build import TruthConfig, build_truth, default_truth_name

    explicit = nest(
        {
            "space": space,
            "dataset": dataset,
            "n": n,
            "epochs": epochs,
            "blueprint": blueprint,
            "seed": seed,
            "seeds": seeds,
            "seeds_for": seeds_for,
            "workers": workers,
            "threads": threads,
            "device": device,
        }
    )
    if train_subset is not None:
        explicit["train_subset"] = train_subset or None
    overrides = merge_values(read_config_file(config) if config else {}, explicit)
    overrides = merge_values(overrides, parse_set(set_ or []))
    existing = _existing_study(study, out, storage)
    if existing is not None:
        from gtnas.search.truth_build import truth_config_of

        stored = config_to_dict(truth_config_of(existing, study=study or ""))
        values = merge_values(stored, overrides)
    else:
        values = merge_values(config_to_dict(TruthConfig()), overrides)
    truth_config = config_from_dict(TruthConfig, values)
    name = study or default_truth_name(truth_config)
    console.print(
        f"[bold]truth build[/] {name}: {truth_config.n} {truth_config.space} architectures, "
        f"{truth_config.epochs} epochs on {truth_config.train_subset or 'all'} "
        f"{truth_config.dataset} images, {truth_config.seeds} seed(s), "
        f"{truth_config.workers} worker(s)",
        highlight=False,
    )
    adopt = None
    if export is not None and export.is_file():
        from gtnas.analysis.truthset import read_truth_document

        adopt = read_truth_document(export)

    from gtnas.search.study import Study, default_storage

    url = storage or default_storage(out)
    from gtnas.search.truth_build import record_of
    from gtnas.search.truth_pace import BuildPace

    pace = BuildPace.for_build(truth_config)  # the time left, printed after each architecture
    done = 0  # finished evaluations in the study, for the [done/n] counter
    # With no --study the default name is known only now: look it up once more for the counter.
    if existing is not None or (study is None and _existing_study(name, out, storage) is not None):
        records = Study.open(name, url, config=None, decision_sizes={}).records()
        done = sum(r.state in ("COMPLETE", "FAIL") and r.error != "interrupted" for r in records)
        if pace is not None:
            pace.add_trials(records)
    if adopt is not None and done == 0:
        done = len(adopt.get("records", [])) + len(adopt.get("failures", []))
        console.print(f"continuing from the {done} architectures in {export}", highlight=False)
        if pace is not None:
            pace.add_document(adopt)
    estimate = "" if pace is None or quiet else pace.describe()
    if estimate:  # where the build stands before its first new training
        console.print(estimate, highlight=False)

    def on_result(record: TrialRecord) -> None:
        nonlocal done
        done += 1
        if quiet:
            return
        test = record.scores.get(f"{truth_config.proxy}/test_accuracy")
        if record.score is not None and test is not None:
            text = f"val {100 * record.score:.2f}%  test {100 * test:.2f}%  {record.seconds:.0f}s"
            each = [
                100 * value
                for key, value in sorted(record.scores.items())
                if key.startswith(f"{truth_config.proxy}/seed") and key.endswith("/val_accuracy")
            ]
            if len(each) > 1:
                text += "  (val by seed: " + ", ".join(f"{v:.2f}%" for v in each) + ")"
        else:
            text = f"failed: {record.error}"
        if pace is not None:
            if record.score is not None and test is not None:
                pace.add(record_of(record.scores, truth_config.proxy, record.genotype), now=True)
            else:
                pace.failed.add(record.genotype)
            estimate = pace.describe()
            text += f"  {estimate}" if estimate else ""
        line = f"[{done}/{truth_config.n}] {record.genotype}  {text}"
        console.print(line, highlight=False, soft_wrap=True, markup=False)

    def on_update(handle: object) -> None:
        if export is not None:
            _export(handle, export, quiet=True)

    build_result = build_truth(
        truth_config,
        out,
        name=name,
        storage=url,
        ray=ray,
        ray_address=ray_address,
        on_result=on_result,
        adopt=adopt,
        on_update=on_update,
    )
    completed = build_result.study.completed()
    console.print(
        f"{len(completed)} architectures trained in study {name} ({url}); export with: "
        f"gtnas truth export {name} --runs {out}",
        highlight=False,
    )
    if export is not None:
        _export(build_result.study, export)


@app.command("export")
def export_truth(
    study: str = typer.Argument(..., help="Truth study name (see `gtnas truth build`)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="JSON file to write. (default: truth/STUDY.json, less truth-)"
    ),
    runs: Path = typer.Option(DEFAULT_RUNS, help="Folder of the truth studies (build's --out)."),
    storage: str = typer.Option(
        None, help="Optuna storage URL. (default: sqlite:///RUNS/studies.db)"
    ),
) -> None:
    """Write a truth build's finished trainings as a small truth-set JSON file."""
    from gtnas.search.study import default_storage
    from gtnas.search.truth_build import open_truth_study

    handle, _ = open_truth_study(study, storage or default_storage(runs))
    _export(handle, out or Path("truth") / f"{study.removeprefix('truth-')}.json")


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="A truth-set file (truth/*.json)."),
    json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    resamples: int = typer.Option(1000, help="Bootstrap resamples of the ceiling's intervals."),
    seed: int = typer.Option(0, help="Seeds the bootstrap."),
) -> None:
    """Summarise a truth-set file: recipe, progress, accuracies, noise ceiling, machines."""
    import json

    from gtnas.analysis.truth_summary import render_summary, truth_summary

    summary = truth_summary(file, resamples=resamples, seed=seed)
    if json_:
        typer.echo(json.dumps(summary, indent=1, allow_nan=False))
    else:
        console.print(render_summary(summary), highlight=False, soft_wrap=True)


def _export(study: object, path: Path, *, quiet: bool = False) -> None:
    from gtnas.analysis.truthset import truth_document, write_truth

    document = truth_document(study)
    write_truth(document, path)
    if quiet:
        return
    console.print(
        f"wrote {path}: {document['n']} architectures ({document['failed']} failed) of "
        f"{document['dataset']} / {document['space']}",
        highlight=False,
    )
