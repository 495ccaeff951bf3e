"""``gtnas search`` (GTN-NAS end to end) and ``gtnas report`` (a study's HTML page)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gtnas.cli.options import nest, parse_set, read_config_file
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.errors import ConfigError

console = Console()
DEFAULT_OUT = Path("runs/search")
# A space's best-known search recipe (configs/README.md): the defaults a new study of that
# space starts from, under --config and the options (nb201: the teacher built to rank,
# configs/nb201-rank-search.json)
SPACE_DEFAULTS_FILE = Path(__file__).with_name("search_defaults.json")


# Under a time budget, the policy measured best at that budget (benchmarks/results/
# search_budget.md, a test holds them equal): nb201's teacher needs hours of set-up on a CPU
# (calibration trainings, meta-training), which a budget of minutes cannot pay for
TIME_DEFAULTS_FILE = Path(__file__).with_name("search_time_defaults.json")
_ABOUT_ENTRY = ("up_to", "policy", "measured_on")  # what an entry says of itself, not values
# values with which a user chooses the policy, so that no time-budget default applies
_CHOOSES_POLICY = ("proxy", "scheduler", "ladder")


def space_defaults(space: str) -> dict[str, Any]:
    return json.loads(SPACE_DEFAULTS_FILE.read_text()).get(space, {})


def time_budget_default(space: str, seconds: float) -> dict[str, Any] | None:
    """The entry of ``search_time_defaults.json`` for a search of ``space`` limited to
    ``seconds``: the one with the smallest ``up_to`` that covers it; None above them all."""
    from gtnas.runtime.durations import parse_duration

    entries = json.loads(TIME_DEFAULTS_FILE.read_text()).get(space, [])
    covering = [e for e in entries if seconds <= parse_duration(e["up_to"])]
    return min(covering, key=lambda e: parse_duration(e["up_to"]), default=None)


def new_study_values(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the config values of a new study, the time-budget entry applied or None): the
    library's defaults, the space's best-known recipe, then under a time budget the policy
    measured best at it, unless the user chose the policy (a proxy, scheduler or ladder) or
    gave a teacher or calibration set (no set-up to pay), then the user's ``overrides``."""
    from gtnas.search.search_config import SearchConfig

    base = config_to_dict(SearchConfig())
    space = overrides.get("space", base["space"])
    values = merge_values(base, space_defaults(space))
    teacher = overrides.get("teacher", {})
    entry = None
    if (
        overrides.get("time_budget") is not None
        and not any(overrides.get(key) is not None for key in _CHOOSES_POLICY)
        and not teacher.get("run")
        and not teacher.get("calibration", {}).get("accuracies")
    ):
        entry = time_budget_default(space, overrides["time_budget"])
    if entry is not None:
        values = merge_values(values, {k: v for k, v in entry.items() if k not in _ABOUT_ENTRY})
    return merge_values(values, overrides), entry


def search(
    dataset: str = typer.Option(None, help="Data set to search for. (default: mnist)"),
    space: str = typer.Option(
        None, help="Search space: gtn-cell, nb201, randwire. (default: gtn-cell)"
    ),
    strategy: str = typer.Option(
        None, help="random, evolution, reinforce or tpe. (default: random)"
    ),
    proxy: str = typer.Option(
        None,
        help="Score to optimise: gtn:K, real:K, synflow, naswot, params; gtn:KxR averages R "
        "learners; rankavg:gtn:32+synflow ranks by the mean rank among the architectures "
        "scored. (default: nb201 rankavg:gtn:32+synflow, other spaces gtn:128)",
    ),
    extra_proxy: list[str] = typer.Option(
        None, "--extra-proxy", help="Also record this proxy per architecture (repeatable)."
    ),
    budget: int = typer.Option(
        None, help="Architectures to evaluate (on a ladder: to draw). (default: 200)"
    ),
    scheduler: str = typer.Option(
        None,
        help="Multi-fidelity: sh (successive halving), asha or hyperband climb --ladder from "
        "--proxy, keeping the best 1/eta of each rung; none scores each with --proxy. "
        "(default: none)",
    ),
    ladder: str = typer.Option(
        None, help="The rungs above --proxy, cheapest first: e.g. gtn:32,real:256,real:1200."
    ),
    eta: int = typer.Option(None, help="The ladder's reduction factor. (default: 3)"),
    time_budget: str = typer.Option(
        None,
        "--time-budget",
        help="Stop evaluating after this long (90s, 30m, 2h), the teacher's calibration and "
        "meta-training included (they stop too, checkpointed, if it runs out there), final "
        "training not. On nb201 without --proxy, --scheduler, --ladder, --teacher or "
        "--calibration, a budget no longer than the longest the search-budget benchmark measured "
        "searches with the policy measured best at it (the teacher's set-up takes hours on a "
        "CPU). (default: no limit)",
    ),
    top_k: int = typer.Option(None, "--top-k", help="Final-train the top K. (default: 5)"),
    epochs: int = typer.Option(None, help="Final-training epochs. (default: 10)"),
    blueprint: str = typer.Option(None, help="Network size while searching. (default: search)"),
    teacher: Path = typer.Option(
        None, help="Use this trained teacher run (else one is meta-trained on the space)."
    ),
    calibration: Path = typer.Option(
        None,
        "--calibration",
        help="A truth set (same data set and blueprint) whose first --calibration-count "
        "architectures calibrate a ranking teacher (teacher.rank_weight > 0, the nb201 "
        "default) instead of training them here first.",
    ),
    calibration_count: int = typer.Option(
        None, help="How many of the truth set's first architectures calibrate. (default: 10)"
    ),
    study: str = typer.Option(
        None, help="Study name; an existing study resumes. (default: from the options)"
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Folder of studies and results."),
    storage: str = typer.Option(
        None, help="Optuna storage URL. (default: sqlite:///OUT/studies.db)"
    ),
    workers: int = typer.Option(None, help="Parallel evaluation processes. (default: 1)"),
    ray: bool = typer.Option(False, "--ray", help="Evaluate on a local Ray instance."),
    ray_address: str = typer.Option(None, help="Evaluate on the Ray cluster at this address."),
    seed: int = typer.Option(None, help="Seed of the whole search. (default: 0)"),
    device: str = typer.Option(None, help="cpu, cuda, cuda:N or auto. (default: cpu)"),
    config: Path = typer.Option(None, help="JSON file with search config values."),
    set_: list[str] = typer.Option(
        None, "--set", help="Override any config key: --set final.lr=0.1 (repeatable)."
    ),
    no_final: bool = typer.Option(False, "--no-final", help="Stop after the search."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Find an architecture with GTN-NAS, end to end.

    Meta-trains or loads a teacher, searches, final-trains the top-k, exports the best.
    On nb201 the defaults are the teacher built to rank (configs/nb201-rank-search.json):
    10 calibration architectures trained first (or --calibration), then 40 meta-iterations;
    under a --time-budget no longer than the longest the search-budget benchmark measured, the
    policy it measured best at that budget (benchmarks/results/search_budget.md).

    An existing --study resumes where it stopped.
    """
    from gtnas.analysis.truthset import calibration_accuracies, load_truth
    from gtnas.runtime.durations import parse_duration
    from gtnas.search.pipeline import SearchConfig, SearchPipeline, default_study_name
    from gtnas.search.proxies.population import is_set_proxy

    rungs = None if ladder is None else [r.strip() for r in ladder.split(",") if r.strip()]
    explicit = nest(
        {
            "dataset": dataset,
            "space": space,
            "strategy": strategy,
            "proxy": proxy,
            "extra_proxies": list(extra_proxy) if extra_proxy else None,
            "budget": budget,
            "scheduler": scheduler,
            "ladder": rungs,
            "eta": eta,
            "time_budget": None if time_budget is None else parse_duration(time_budget),
            "top_k": top_k,
            "final.epochs": epochs,
            "blueprint": blueprint,
            "teacher.run": str(teacher) if teacher else None,
            "workers": workers,
            "seed": seed,
            "device": device,
        }
    )
    overrides = merge_values(read_config_file(config) if config else {}, explicit)
    overrides = merge_values(overrides, parse_set(set_ or []))
    if calibration is not None:
        count = calibration_count or overrides.get("teacher", {}).get("calibration", {}).get(
            "count", 10
        )
        calibrating = load_truth(calibration)
        accuracies = calibration_accuracies(calibrating, count)
        overrides = merge_values(overrides, {"teacher": {"calibration": {
            "count": count, "accuracies": accuracies}}})  # fmt: skip
    existing = _existing_study(study, out, storage)
    if existing is not None:
        # resume: the stored config plus whatever the user changed (the study refuses
        # changes to what a search cannot change midway)
        values = merge_values(existing, overrides)
    else:
        values, by_budget = new_study_values(overrides)
        if by_budget is not None and not quiet:
            console.print(
                f"{values['space']} under a {time_budget} time budget: {by_budget['policy']}, "
                f"the policy measured best up to {by_budget['up_to']} on 2 CPU cores "
                f"({by_budget['measured_on']}, benchmarks/results/search_budget.md); the "
                "space's teacher would not finish its set-up. --proxy or --teacher choose "
                "otherwise.",
                highlight=False,
            )
    search_config = config_from_dict(SearchConfig, values)
    if calibration is not None:  # its accuracies are those of its data set and network
        for key, given in (("dataset", calibrating.dataset), ("blueprint", calibrating.blueprint)):
            if given != getattr(search_config, key):
                raise ConfigError(
                    f"--calibration {calibration} was trained with {key} {given!r}, the search "
                    f"uses {getattr(search_config, key)!r}; pass a truth set of the search's "
                    f"{key} or --{key} {given}"
                )
    name = study or default_study_name(search_config)
    top_rows: list[Any] = []  # the best TrialRecords so far, filled by on_result

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    total = search_config.budget
    if search_config.scheduler != "none":
        from gtnas.search.ladder import create_scheduler

        planned = create_scheduler(
            search_config.scheduler, len(search_config.rungs), search_config.eta,
            search_config.budget,
        )  # fmt: skip
        total = planned.expected_evaluations()
    task = progress.add_task("search", total=total, info="")

    def table() -> Table:
        view = Table(title=f"top {len(top_rows)} by {' < '.join(search_config.rungs)}")
        for column in ("trial", "rung", "score", "seconds", "genotype"):
            view.add_column(column, overflow="fold")
        for record in top_rows:
            view.add_row(
                str(record.number),
                record.proxy or search_config.proxy,
                f"{record.score:.4f}",
                f"{record.seconds:.1f}",
                record.genotype[:90],
            )
        return view

    live = Live(Group(progress, table()), console=console, refresh_per_second=4, transient=False)
    interactive = console.is_terminal and not quiet

    def rank(record: Any) -> tuple[int, float]:
        return (-(record.rung or 0), -(record.score or 0.0))  # a ladder's highest rung first

    # a rank average's recorded value is a standing among those scored before it: the leaders
    # are re-ranked over all scored after each result (the pipeline's ranked())
    anew = any(is_set_proxy(p) for p in search_config.rungs)

    def on_result(record: Any) -> None:
        if anew:
            top_rows[:] = pipeline.ranked()[:5]
        elif record.state == "COMPLETE":
            top_rows[:] = [r for r in top_rows if r.genotype != record.genotype] + [record]
            top_rows.sort(key=rank)
            del top_rows[5:]
        best = ""
        if top_rows:
            best = (f"leader: trial {top_rows[0].number}" if anew
                    else f"best {top_rows[0].score:.4f}")  # fmt: skip
        done = pipeline.study_progress()
        progress.update(task, completed=done, info=best)
        if interactive:
            live.update(Group(progress, table()))
        elif not quiet:
            score = f"{record.score:.4f}" if record.score is not None else record.error
            if anew and record.score is not None:
                score = f"standing {score}"  # among those scored before it and itself
            rung = "" if record.rung is None else f" rung {record.rung} ({record.proxy})"
            console.print(
                f"[{done}/{total}] trial {record.number}{rung} {score}  {best}",
                highlight=False,
            )

    def on_stage(message: str) -> None:
        if not quiet:
            console.print(f"[bold]{message}[/]")

    pipeline = SearchPipeline(
        name,
        out,
        config=search_config,
        storage=storage,
        ray=ray,
        ray_address=ray_address,
        show_progress=not quiet,
        hooks={"result": on_result, "stage": on_stage},
    )
    ladder_text = (
        f" scheduler={search_config.scheduler} ladder={','.join(search_config.rungs)} "
        f"eta={search_config.eta}"
        if search_config.scheduler != "none"
        else ""
    )
    limit = search_config.time_budget
    console.print(
        f"[bold]study[/] {name}  ({pipeline.storage})  space={search_config.space} "
        f"strategy={search_config.strategy} proxy={search_config.proxy} "
        f"budget={search_config.budget}{ladder_text}"
        + ("" if limit is None else f" time budget={limit:.0f}s")
    )
    teacher_dir = pipeline.teacher_dir()
    assessment = pipeline.assess_teacher(teacher_dir)
    if assessment is not None:
        _print_teacher(assessment, teacher_dir)
    top_rows.extend(pipeline.top()[:5] if search_config.top_k else [])
    progress.update(task, completed=pipeline.study_progress())
    if interactive:
        with live:
            pipeline.search(teacher_dir)
    else:
        pipeline.search(teacher_dir)
    pipeline.rescore(teacher_dir)
    finals = {} if no_final or not search_config.top_k else pipeline.final_train()
    best, export_dir = pipeline.export_best(finals)
    _print_summary(pipeline, finals, best, export_dir)
    from gtnas.reports.search_report import write_report

    report = write_report(
        pipeline.study,
        pipeline.folder,
        setup_seconds=pipeline.setup_seconds(),
        ranked=pipeline.ranked(),
    )
    console.print(f"report: {report}")


def _existing_study(name: str | None, out: Path, storage: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    from gtnas.search.study import CONFIG_KEY, _optuna, default_storage, storage_missing

    optuna = _optuna()
    url = storage or default_storage(out)
    if storage_missing(url):
        return None
    try:
        summaries = optuna.get_all_study_summaries(url)
    except Exception:  # a storage that cannot be read is reported when the study opens
        return None
    for summary in summaries:
        if summary.study_name == name:
            return dict(summary.user_attrs.get(CONFIG_KEY, {}))
    return None


def _print_summary(pipeline: Any, finals: dict, best: int | None, export_dir: Path | None) -> None:
    table = Table(title=f"study {pipeline.study.name}: top architectures")
    for column in ("trial", "score", "val acc", "test acc", "params", "genotype"):
        table.add_column(column, overflow="fold")
    for record in pipeline.top():
        final = finals.get(record.number, {})
        table.add_row(
            str(record.number) + (" *" if record.number == best else ""),
            f"{record.score:.4f} ({record.proxy or pipeline.config.proxy})",
            _pct(final.get("val_accuracy")),
            _pct(final.get("test_accuracy")),
            str(final.get("parameters", "")),
            record.genotype[:80],
        )
    console.print(table)
    _print_proxies(pipeline, finals)
    if export_dir is not None:
        import json

        onnx = json.loads((export_dir / "export.json").read_text())
        check = (
            f"model.onnx matches PyTorch under onnxruntime to "
            f"{onnx['max_abs_difference_vs_pytorch']:.1e}"
            if onnx.get("onnx")
            else f"no ONNX file ({onnx.get('why')})"
        )
        console.print(f"best (by validation accuracy, *) exported to {export_dir}; {check}")


def _print_proxies(pipeline: Any, finals: dict) -> None:
    """Each proxy's rank correlation with the final-trained architectures' test accuracy,
    beside the free floor (parameters, FLOPs): what the report's proxies section shows."""
    from gtnas.analysis.rank import kendall_tau, spearman
    from gtnas.reports.search_report import final_scores, with_standings

    records = with_standings(pipeline.study.records(), pipeline.study.config)
    pairs = {k: v for k, v in final_scores(records, finals).items() if len(v) > 2}
    if not pairs:
        return
    n = max(len(points) for points in pairs.values())
    table = Table(title=f"proxies against final test accuracy ({n} final-trained; rough)")
    for column in ("proxy", "n", "Spearman", "Kendall"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for name, points in pairs.items():
        x, y = zip(*points, strict=True)
        free = " (free floor)" if name.startswith(("params", "FLOPs")) else ""
        rho, tau = spearman(x, y), kendall_tau(x, y)
        table.add_row(name + free, str(len(points)), f"{rho:.2f}", f"{tau:.2f}")
    console.print(table)


def _print_teacher(assessment: dict[str, Any], teacher_dir: str | None) -> None:
    """The teacher's learners against real data at the same steps, in one line."""
    steps = assessment["inner_steps"]
    parts = [f"[bold]teacher[/] {teacher_dir}: after {steps} steps, fresh learners reach"]
    for kind, label in (("default", "its reference architecture"), ("sampled", "sampled ones")):
        if kind in assessment:
            summary = assessment[kind]
            parts.append(f"{100 * summary['mean']:.1f}% ± {100 * summary['std']:.1f} ({label})")
    real = assessment.get("real")
    if real:
        parts.append(f"against {100 * real['mean']:.1f}% for real data at lr {real['lr']:g}")
    console.print(" ".join(parts) + " (test split)", highlight=False)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def report(
    study: str = typer.Argument(..., help="Study name."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Folder of studies and results."),
    storage: str = typer.Option(
        None, help="Optuna storage URL. (default: sqlite:///OUT/studies.db)"
    ),
) -> None:
    """Write a study's HTML report: search curve, proxy-vs-final scatter, top architectures."""
    from gtnas.errors import GtnasError
    from gtnas.reports.search_report import write_report
    from gtnas.search.pipeline import SearchPipeline
    from gtnas.search.study import default_storage, storage_missing

    url = storage or default_storage(out)
    if storage_missing(url):
        raise GtnasError(f"no study storage at {url}; pass --out or --storage of the search")
    pipeline = SearchPipeline(study, out, config=None, storage=url, show_progress=False)
    path = write_report(
        pipeline.study,
        pipeline.folder,
        setup_seconds=pipeline.setup_seconds(),
        ranked=pipeline.ranked(),
    )
    console.print(f"report: {path}")
