"""The HTML report of a search study: one self-contained page (plots embedded as PNG), written
next to the study's files; nothing is served.

Sections, each shown when the study has what it needs:

1. the search in one paragraph (space, strategy, proxies or ladder, budget, seconds spent);
2. the teacher behind gtn:K: its fresh learners against real data at the same inner steps, its
   meta-training curve, its curriculum, and the accuracy-by-step curves;
3. the fidelity ladder (multi-fidelity searches): per rung, its proxy, how many architectures
   it scored and promoted, and what it cost;
4. search curves: the best score so far against evaluations and against seconds, the
   teacher's meta-training and real:K's tuning included;
5. proxies against final accuracy: every score recorded for the final-trained architectures
   (ladder rungs, extra proxies, and the free floor: parameters and FLOPs) against their test
   accuracy after final training, with Spearman's and Kendall's coefficients;
6. the top architectures, in a table and drawn;
7. the run's config.

Every figure's caption names the seed that reproduces it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from gtnas.analysis.rank import kendall_tau, spearman
from gtnas.meta.run_assessment import EVAL_FILE
from gtnas.reports.graphs import draw_genotype
from gtnas.reports.teaching import draw_run_plots
from gtnas.runtime.files import atomic_write_text
from gtnas.runtime.metrics import MetricsLog
from gtnas.runtime.run_folder import METRICS_FILE
from gtnas.search.proxies.population import is_set_proxy, population_scores
from gtnas.search.study import Study, TrialRecord
from gtnas.spaces import parse_genotype
from gtnas.teachers.store import META as TEACHER_FILE

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 12px;color:#222}"
    "h1{font-size:24px}h2{font-size:19px;margin-top:28px;border-bottom:1px solid #ccc}"
    "td,th{padding:2px 8px;text-align:left;font-size:13px}"
    "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}"
    "img{max-width:min(100%,820px)}.caption{font-size:12px;color:#555}"
    "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow-x:auto}"
)
SECTIONS = ("summary", "teacher", "ladder", "curves", "proxies", "top", "config")


def _figure(width: float = 6.0, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _img(encoded: str, caption: str) -> str:
    return (
        f'<figure><img src="data:image/png;base64,{encoded}"><figcaption class="caption">'
        f"{html.escape(caption)}</figcaption></figure>"
    )


def _file_img(path: Path, caption: str) -> str:
    return _img(base64.b64encode(path.read_bytes()).decode(), caption)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


# -- the clock: seconds since the search began, set-up included ------------------------------


def elapsed_at(record: TrialRecord, clock: dict[int, dict[str, Any]], setup: float) -> float | None:
    """Seconds from the search's start to ``record``'s finish: the set-up, the sessions before
    the record's, and its own session up to it; None when untimed."""
    if record.finished is None:
        return None
    before = 0.0
    for _, session in sorted(clock.items()):
        start = float(session.get("start", 0.0))
        if start <= record.finished <= start + float(session.get("seconds", 0.0)) + 60:
            return setup + before + (record.finished - start)
        before += float(session.get("seconds", 0.0))
    return None


# -- sections ---------------------------------------------------------------------------------


def teacher_section(config: dict[str, Any], folder: Path) -> str:
    teacher_config = config.get("teacher") or {}
    run = Path(teacher_config["run"]) if teacher_config.get("run") else folder / "teacher"
    if not (run / TEACHER_FILE).is_file():
        return ""

    plots = run / "plots"
    assessed = (run / EVAL_FILE).is_file() and not (plots / "accuracy_vs_steps.png").is_file()
    if assessed or not (plots / "meta_training.png").is_file():
        draw_run_plots(run)
    metrics = run / METRICS_FILE
    history = MetricsLog(metrics).read() if metrics.is_file() else []
    validated = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    seed = config.get("seed", 0)
    parts = ["<h2 id='teacher'>The teacher</h2>"]
    trained = "given" if teacher_config.get("run") else "meta-trained for this search"
    line = (
        f"<p>Run <code>{html.escape(str(run))}</code> ({trained}): "
        f"{len([h for h in history if h.get('iteration', 0) >= 1])} meta-iterations"
    )
    if history and "elapsed" in history[-1]:
        line += f" in {history[-1]['elapsed']:.0f} s"
    if validated:
        line += f"; its last validated fresh learner: {100 * validated[-1]:.1f}% (validation)"
    parts.append(line + ".</p>")
    evaluation = run / EVAL_FILE
    if evaluation.is_file():
        report = json.loads(evaluation.read_text())
        rows = []
        for kind, label in (("default", "reference architecture"), ("sampled", "sampled")):
            if kind in report:
                s = report[kind]
                rows.append([f"{report['teacher']} data, {label}", _pct(s["mean"]),
                             _pct(s["std"]), s["n"]])  # fmt: skip
        if "real" in report:
            r = report["real"]
            rows.append([f"real data (lr {r['lr']:g})", _pct(r["mean"]), _pct(r["std"]), r["n"]])
        images = report.get("test_examples")
        parts.append(
            f"<p>Fresh learners after {report['inner_steps']} inner steps of "
            f"{report['batch_size']}, test split"
            + (f" (its first {images:,} images)" if images else "")
            + ":</p>"
            + _table(["learners", "accuracy", "std", "n"], rows)
        )
    captions = {
        "meta_training.png": f"meta-training: meta-loss and validated accuracy (seed {seed})",
        "curriculum.png": f"the learned curriculum: samples by inner step (seed {seed})",
        "accuracy_vs_steps.png": "fresh learners' accuracy by inner step, teacher against real "
        "data (assessment seed 1000)",
    }
    for name, caption in captions.items():
        if (plots / name).is_file():
            parts.append(_file_img(plots / name, caption))
    return "\n".join(parts)


def ladder_section(config: dict[str, Any], records: list[TrialRecord]) -> str:
    if config.get("scheduler", "none") == "none":
        return ""
    rungs = [config["proxy"], *config.get("ladder", [])]
    rows = []
    for index, proxy in enumerate(rungs):
        on = [r for r in records if r.rung == index and r.error != "interrupted"]
        done = [r for r in on if r.state == "COMPLETE"]
        promoted = {r.genotype for r in records if r.rung == index + 1}
        seconds = sum(r.seconds for r in done)
        rows.append([
            index, proxy, len(done), sum(r.state == "FAIL" for r in on),
            len(promoted) if index + 1 < len(rungs) else "-", f"{seconds:.0f}",
            f"{seconds / len(done):.2f}" if done else "-",
        ])  # fmt: skip
    return (
        "<h2 id='ladder'>The fidelity ladder</h2>"
        f"<p>{html.escape(config['scheduler'])} with eta {config.get('eta', 3)}: each rung "
        "scores what the one below promoted (its best 1/eta).</p>"
        + _table(["rung", "proxy", "scored", "failed", "promoted", "seconds", "s / eval"], rows)
    )


def search_curve(
    records: list[TrialRecord], config: dict[str, Any], clock: dict, setup: float
) -> str | None:
    """Best score so far against evaluations (left) and against seconds (right); on a ladder
    one row per rung, since the rungs' proxies score on their own scales."""
    done = sorted((r for r in records if r.state == "COMPLETE" and r.score is not None),
                  key=lambda r: r.number)  # fmt: skip
    if not done:
        return None
    rungs = sorted({r.rung for r in done}, key=lambda r: -1 if r is None else r)
    labels = [config.get("proxy", "score"), *config.get("ladder", [])]
    figure = _figure(9.5, 2.8 * len(rungs) + 0.4)
    grid = figure.subplots(len(rungs), 2, squeeze=False)
    for row, rung in enumerate(rungs):
        left, right = grid[row]
        series = [(i, r) for i, r in enumerate(done, 1) if r.rung == rung]
        best, running, timed = [], -math.inf, []
        for _, record in series:
            running = max(running, float(record.score))  # type: ignore[arg-type]
            best.append(running)
            moment = elapsed_at(record, clock, setup)
            if moment is not None:
                timed.append((moment, running))
        label = labels[rung] if rung is not None and rung < len(labels) else labels[0]
        left.plot([i for i, _ in series], best, drawstyle="steps-post")
        left.scatter([i for i, _ in series], [r.score for _, r in series], s=8, alpha=0.4)
        left.set(ylabel=f"{label}: best so far")
        if timed:
            right.plot(*zip(*timed, strict=True), drawstyle="steps-post")
        if setup:
            right.axvline(setup, color="#7f7f7f", linestyle=":", linewidth=1)
        for axes in (left, right):
            axes.grid(alpha=0.3)
    grid[0][0].set_title("against evaluations (all rungs counted)")
    grid[0][1].set_title("against wall-clock time")
    grid[-1][0].set_xlabel("evaluations")
    grid[-1][1].set_xlabel("seconds since the search began (set-up included)")
    return _png(figure)


def with_standings(records: list[TrialRecord], config: dict[str, Any]) -> list[TrialRecord]:
    """``records`` with each rank-average proxy's score (as ``score`` and in ``scores``) its
    standing among all that proxy scored (every completed evaluation of a plain search; a
    ladder rung's evaluations), as the search ranks them at the end, not the standing recorded
    when each came in; records of plain proxies unchanged."""
    ladder = config.get("scheduler", "none") != "none"
    rungs = (
        [str(config.get("proxy", "")), *(config.get("ladder") or [])]
        if ladder
        else [str(config.get("proxy", ""))]
    )
    now: dict[int, TrialRecord] = {}
    for rung, proxy in enumerate(rungs):
        if not (proxy.startswith("rankavg:") and is_set_proxy(proxy)):
            continue
        on = [r for r in records if r.state == "COMPLETE" and (not ladder or r.rung == rung)]
        for record, value in zip(on, population_scores(proxy, [r.scores for r in on]),
                                 strict=True):  # fmt: skip
            now[record.number] = replace(record, score=value,
                                         scores={**record.scores, proxy: value})  # fmt: skip
    return [now.get(r.number, r) for r in records]


def final_scores(
    records: list[TrialRecord], finals: dict[int, dict[str, Any]]
) -> dict[str, list[tuple[float, float]]]:
    """proxy -> [(its score, test accuracy after final training)] over the final-trained
    architectures, for every proxy recorded for them, and the floor: parameters and FLOPs
    of the final network."""
    by_genotype: dict[str, dict[str, float]] = {}
    for record in records:
        if record.state == "COMPLETE":
            scores = by_genotype.setdefault(record.genotype, {})
            for name, value in record.scores.items():
                if "/" not in name and value is not None and math.isfinite(value):
                    scores[name] = float(value)
    pairs: dict[str, list[tuple[float, float]]] = {}
    genotype_of = {r.number: r.genotype for r in records}
    for number, final in finals.items():
        accuracy = final.get("test_accuracy")
        if accuracy is None or number not in genotype_of:
            continue
        scores = dict(by_genotype.get(genotype_of[number], {}))
        for key, label in (("parameters", "params (final network)"),
                           ("flops", "FLOPs (final network)")):  # fmt: skip
            if final.get(key) is not None:
                scores[label] = float(final[key])
        for name, value in scores.items():
            pairs.setdefault(name, []).append((value, float(accuracy)))
    return pairs


def proxies_section(
    records: list[TrialRecord], finals: dict[int, dict[str, Any]], seed: int
) -> str:
    pairs = {k: v for k, v in final_scores(records, finals).items() if len(v) >= 2}
    if not pairs:
        return ""
    rows, panels = [], []
    for name, points in pairs.items():
        x, y = zip(*points, strict=True)
        rho, tau = spearman(x, y), kendall_tau(x, y)
        free = name.startswith(("params", "FLOPs"))
        rows.append([name + (" (free floor)" if free else ""), len(points), f"{rho:.2f}",
                     f"{tau:.2f}"])  # fmt: skip
        panels.append((name, x, y, rho))
    figure = _figure(3.2 * min(4, len(panels)), 3.0 * math.ceil(len(panels) / 4))
    grid = figure.subplots(math.ceil(len(panels) / 4), min(4, len(panels)), squeeze=False)
    for axes, (name, x, y, rho) in zip(grid.flat, panels, strict=False):
        axes.scatter(x, [100 * v for v in y], s=16)
        axes.set_title(f"{name}: Spearman {rho:.2f}", fontsize=9)
        axes.set_xlabel("score", fontsize=8)
        axes.set_ylabel("test accuracy (%)", fontsize=8)
        if name.startswith(("params", "FLOPs")):
            axes.set_xscale("log")
    for axes in list(grid.flat)[len(panels) :]:
        axes.set_visible(False)
    n = max(len(v) for v in pairs.values())
    return (
        "<h2 id='proxies'>Proxies against final accuracy</h2>"
        f"<p>Each proxy's scores of the {n} final-trained architectures against their test "
        "accuracy after final training (a report: nothing was chosen by it). A proxy is worth "
        "its seconds where it ranks them better than the free floor, the parameter and FLOP "
        "counts. With a handful of architectures these coefficients are rough.</p>"
        + _table(["proxy", "n", "Spearman", "Kendall"], rows)
        + _img(_png(figure), f"proxy scores against final test accuracy (seed {seed})")
    )


def top_section(
    config: dict[str, Any], completed: list[TrialRecord], finals: dict[int, dict[str, Any]],
    folder: Path, top: int,
) -> str:  # fmt: skip

    chosen = [r for r in completed if r.number in finals] if finals else completed[:top]
    rows = []
    for rank, record in enumerate(chosen, 1):
        final = finals.get(record.number, {})
        rows.append([rank, record.number, f"{record.score:.4f}",
                     record.proxy or config.get("proxy", ""),
                     _pct(final.get("val_accuracy")), _pct(final.get("test_accuracy")),
                     final.get("parameters", ""), record.genotype])  # fmt: skip
    if not rows:
        return ""
    parts = [
        "<h2 id='top'>Top architectures</h2>",
        _table(["#", "trial", "score", "by", "val acc", "test acc", "params", "genotype"], rows),
    ]
    drawings = folder / "drawings"
    for record in chosen[:top]:
        try:
            space, genotype = parse_genotype(record.genotype, config.get("space_options"))
            path = draw_genotype(space, genotype, drawings / f"trial-{record.number}.png")
        except NotImplementedError:
            continue
        parts.append(_file_img(Path(path), f"trial {record.number}: {record.genotype}"))
    return "\n".join(parts)


def write_report(
    study: Study,
    folder: Path,
    *,
    top: int = 5,
    setup_seconds: float = 0.0,
    ranked: list[TrialRecord] | None = None,
) -> Path:
    """Write ``folder/report.html`` for ``study``; returns its path. ``setup_seconds``: what
    the search paid before its first evaluation (the pipeline's :meth:`setup_seconds`);
    ``ranked``: the search's order of its architectures (the pipeline's :meth:`ranked`, which
    ranks a set proxy's architectures anew); default: by rung, then recorded score."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = study.config
    records = [r for r in study.records() if r.duplicate_of is None]
    finals = study.results("final")
    clock = study.results("clock")
    seed = config.get("seed", 0)
    completed = sorted((r for r in records if r.state == "COMPLETE"),
                       key=lambda r: (-(r.rung or 0), -(r.score or 0.0)))  # fmt: skip
    failed = sum(r.state == "FAIL" for r in records)
    evaluated = sum(r.seconds for r in completed)
    proxies = (
        f"the ladder <b>{html.escape(' → '.join([config['proxy'], *config.get('ladder', [])]))}"
        f"</b> ({html.escape(config.get('scheduler', ''))}, eta {config.get('eta', 3)})"
        if config.get("scheduler", "none") != "none"
        else f"proxy <b>{html.escape(str(config.get('proxy')))}</b>"
    )
    wall = setup_seconds + sum(float(c.get("seconds", 0.0)) for c in clock.values())
    summary = (
        f"<h1>gtnas search: {html.escape(study.name)}</h1><p>{len(completed)} evaluations "
        f"({failed} failed or cut off and re-run), {evaluated:.0f} s of proxy evaluation, "
        f"{wall:.0f} s in all with the set-up ({setup_seconds:.0f} s); data set "
        f"<b>{html.escape(str(config.get('dataset')))}</b>, space "
        f"<b>{html.escape(str(config.get('space')))}</b>, strategy "
        f"<b>{html.escape(str(config.get('strategy')))}</b>, {proxies}, seed {seed}.</p>"
    )
    order = completed if ranked is None else ranked
    records = with_standings(records, config)
    parts = {
        "summary": summary,
        "teacher": teacher_section(config, folder),
        "ladder": ladder_section(config, records),
        "curves": "",
        "proxies": proxies_section(records, finals, seed),
        "top": top_section(config, order, finals, folder, top),
        "config": "<h2 id='config'>Config</h2><pre>"
        + html.escape(json.dumps(config, indent=2, sort_keys=True))
        + "</pre>",
    }
    curve = search_curve(records, config, clock, setup_seconds)
    if curve:
        parts["curves"] = "<h2 id='curves'>Search curves</h2>" + _img(
            curve, f"best score so far, by rung on a ladder (seed {seed}; a rank average's "
            "score: its standing among all the search scored); the dotted line marks the "
            "end of the set-up",
        )  # fmt: skip
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>gtnas "
        f"{html.escape(study.name)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(parts[name] for name in SECTIONS if parts[name])
        + "</body></html>"
    )
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path
