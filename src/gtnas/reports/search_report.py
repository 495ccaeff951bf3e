"""The HTML report of a search study: one self-contained page (plots embedded as PNG), written
next to the study's files; nothing is served.

Sections: the search curve (best proxy score against evaluations and against wall-clock
seconds), the proxy-vs-final-accuracy scatter with Spearman and Kendall coefficients, the top
architectures drawn, a table of every final-trained architecture, and the run's config.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from gtnas.analysis.rank import kendall_tau, spearman
from gtnas.runtime.files import atomic_write_text
from gtnas.search.study import Study, TrialRecord


def _figure(width: float = 6.0, height: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def search_curve(records: list[TrialRecord], proxy: str) -> str | None:
    """Best score so far vs evaluations and vs seconds since the first evaluation started."""
    done = sorted((r for r in records if r.state == "COMPLETE"), key=lambda r: r.number)
    if not done:
        return None
    best, running = [], -math.inf
    for record in done:
        running = max(running, float(record.score or 0.0))
        best.append(running)
    figure = _figure(9.0, 3.4)
    left, right = figure.subplots(1, 2)
    left.plot(range(1, len(best) + 1), best, drawstyle="steps-post")
    left.scatter(range(1, len(done) + 1), [r.score for r in done], s=8, alpha=0.4)
    left.set(xlabel="evaluations", ylabel=f"{proxy} (best so far)", title="search curve")
    start = min((r.started for r in records if r.started is not None), default=None)
    timed = [
        (r.finished - start, b)
        for r, b in zip(done, best, strict=True)
        if r.finished is not None and start is not None
    ]
    if timed:
        right.plot(*zip(*timed, strict=True), drawstyle="steps-post")
    right.set(xlabel="seconds", ylabel="best so far", title="against wall-clock time")
    return _png(figure)


def proxy_scatter(
    records: list[TrialRecord], finals: dict[int, dict[str, Any]], proxy: str
) -> tuple[str | None, dict[str, float]]:
    pairs = [
        (r.score, finals[r.number]["test_accuracy"])
        for r in records
        if r.number in finals
        and r.score is not None
        and finals[r.number].get("test_accuracy") is not None
    ]
    if len(pairs) < 2:
        return None, {}
    x, y = zip(*pairs, strict=True)
    coefficients = {"spearman": spearman(x, y), "kendall": kendall_tau(x, y), "n": len(pairs)}
    figure = _figure(5.0, 4.0)
    axes = figure.subplots()
    axes.scatter(x, [100 * v for v in y])
    axes.set(
        xlabel=f"proxy score ({proxy})",
        ylabel="test accuracy after final training (%)",
        title=f"Spearman {coefficients['spearman']:.2f}, Kendall {coefficients['kendall']:.2f}",
    )
    return _png(figure), coefficients


def write_report(study: Study, folder: Path, *, top: int = 5) -> Path:
    """Write ``folder/report.html`` for ``study``; returns its path."""
    from gtnas.spaces import parse_genotype

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = study.config
    records = study.records()
    finals = study.results("final")
    proxy = config.get("proxy", "score")
    completed = sorted(
        (r for r in records if r.state == "COMPLETE"), key=lambda r: -(r.score or 0.0)
    )
    parts = [f"<h1>gtnas search: {html.escape(study.name)}</h1>"]
    failed = sum(r.state == "FAIL" for r in records)
    parts.append(
        f"<p>{len(completed)} architectures evaluated ({failed} failed or cut off and "
        f"re-run), {sum(r.seconds for r in completed):.0f} s of proxy evaluation; "
        f"space <b>{html.escape(str(config.get('space')))}</b>, strategy "
        f"<b>{html.escape(str(config.get('strategy')))}</b>, proxy <b>{html.escape(proxy)}</b>."
        "</p>"
    )
    curve = search_curve(records, proxy)
    if curve:
        parts.append(f'<h2>Search curve</h2><img src="data:image/png;base64,{curve}">')
    scatter, coefficients = proxy_scatter(records, finals, proxy)
    if scatter:
        parts.append(
            "<h2>Proxy vs final accuracy</h2>"
            f"<p>Spearman {coefficients['spearman']:.3f}, Kendall "
            f"{coefficients['kendall']:.3f} over {coefficients['n']} final-trained "
            f'architectures.</p><img src="data:image/png;base64,{scatter}">'
        )
    rows = []
    for rank, record in enumerate(
        completed[:top] if not finals else [r for r in completed if r.number in finals], 1
    ):
        final = finals.get(record.number, {})
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    rank,
                    record.number,
                    f"{record.score:.4f}",
                    _pct(final.get("val_accuracy")),
                    _pct(final.get("test_accuracy")),
                    final.get("parameters", ""),
                    record.genotype,
                )
            )
            + "</tr>"
        )
    if rows:
        parts.append(
            "<h2>Top architectures</h2><table><tr><th>#</th><th>trial</th><th>proxy</th>"
            "<th>val acc</th><th>test acc</th><th>params</th><th>genotype</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    drawings = folder / "drawings"
    for record in completed[:top]:
        try:
            space, genotype = parse_genotype(record.genotype, config.get("space_options"))
            path = space.draw(genotype, drawings / f"trial-{record.number}.png")
        except NotImplementedError:
            continue
        encoded = base64.b64encode(Path(path).read_bytes()).decode()
        parts.append(
            f"<h3>trial {record.number} ({proxy} {record.score:.4f})</h3>"
            f'<img style="max-width:100%" src="data:image/png;base64,{encoded}">'
        )
    parts.append(
        "<h2>Config</h2><pre>"
        + html.escape(json.dumps(config, indent=2, sort_keys=True))
        + "</pre>"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>gtnas "
        f"{html.escape(study.name)}</title><style>body{{font-family:sans-serif;max-width:"
        "1100px;margin:auto}}td,th{{padding:2px 8px;text-align:left;font-size:13px}}"
        "</style></head><body>" + "\n".join(parts) + "</body></html>"
    )
    path = folder / "report.html"
    atomic_write_text(path, page)
    return path


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"
