r"""What a search pays per evaluation besides the proxy: the study's bookkeeping (a trial per
evaluation, its parameters and attributes, the strategy's ask and tell), by study storage, with
the free proxy ``params`` so that almost nothing else is measured.

    python -m benchmarks.search_overhead                      # 300 evaluations, seed 0
    python -m benchmarks.search_overhead --evaluations 1000 --storages gtnas,memory

Storages: ``gtnas`` (the SQLite file every search keeps, as gtnas opens it: write-ahead log,
``synchronous=NORMAL``), ``optuna-default`` (the same file format as Optuna opens a SQLite URL:
rollback journal, a disk flush at each of its commits) and ``memory`` (Optuna's in-memory
storage: nothing kept, the floor). Random search on nb201 in one process (``--workers 1``);
the proxy's own seconds are taken out. Writes ``search_overhead.json`` (one record per storage,
evaluations and seed; a re-run replaces its own) and ``search_overhead.md`` into
``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

RESULTS = Path(__file__).parent / "results"
STORAGES = ("gtnas", "optuna-default", "memory")


def storage_for(kind: str, folder: Path) -> Any:
    """The study storage ``kind`` in ``folder`` (a fresh file each)."""
    import optuna

    from gtnas.search.study import open_storage

    url = f"sqlite:///{folder / f'{kind}.db'}"
    if kind == "gtnas":
        return open_storage(url)
    if kind == "optuna-default":
        return optuna.storages.RDBStorage(url)
    if kind == "memory":
        return optuna.storages.InMemoryStorage()
    raise ValueError(f"unknown storage {kind!r}; choose from {', '.join(STORAGES)}")


def run_storage(kind: str, evaluations: int, seed: int, dataset: str) -> dict[str, Any]:
    """Seconds of a random search of ``evaluations`` architectures scored by ``params``."""
    import gtnas.spaces.nb201  # noqa: F401 - registers nb201
    from benchmarks.machine import describe_machine
    from gtnas.search.executor import ContextSpec, InlineExecutor, build_context
    from gtnas.search.runner import run_search
    from gtnas.search.strategies import create_strategy
    from gtnas.search.study import Study
    from gtnas.spaces import create_space

    spec = ContextSpec(dataset=dataset, space="nb201", space_options={}, blueprint="search-head3")
    build_context(spec)  # the data, loaded once per process: not the search's cost
    space = create_space("nb201")
    proxy_seconds = 0.0

    def on_result(record: Any) -> None:
        nonlocal proxy_seconds
        proxy_seconds += record.seconds

    with tempfile.TemporaryDirectory() as folder:
        study = Study.open(
            "overhead",
            storage_for(kind, Path(folder)),
            config={"space": "nb201", "strategy": "random", "seed": seed},
            decision_sizes={d.name: len(d) for d in space.decisions()},
        )  # creating the file and its tables: once per search, not timed
        start = time.perf_counter()
        progress = run_search(
            study,
            space,
            create_strategy("random", space, seed),
            InlineExecutor(spec),
            budget=evaluations,
            proxies=("params",),
            seed=seed,
            on_result=on_result,
        )
        seconds = time.perf_counter() - start
    bookkeeping = seconds - proxy_seconds
    return {
        "storage": kind,
        "dataset": dataset,
        "evaluations": progress.evaluated,
        "proposals": progress.proposals,
        "seconds": seconds,
        "proxy_seconds": proxy_seconds,
        "ms_per_evaluation": 1000 * seconds / progress.evaluated,
        "bookkeeping_ms_per_evaluation": 1000 * bookkeeping / progress.evaluated,
        "evaluations_per_30_minutes": int(1800 / (seconds / progress.evaluated)),
        "seed": seed,
        "machine": describe_machine(),
    }


def render_table(records: list[dict[str, Any]]) -> str:
    lines = [
        "# A search's seconds per evaluation besides the proxy, by study storage (nb201, params)",
        "",
        "| storage | evaluations | seconds | ms per evaluation | of which bookkeeping | "
        "evaluations in 30 min | seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['storage']} | {r['evaluations']} | {r['seconds']:.1f} "
            f"| {r['ms_per_evaluation']:.1f} | {r['bookkeeping_ms_per_evaluation']:.1f} "
            f"| {r['evaluations_per_30_minutes']:,} | {r['seed']} |"
        )
    lines += [
        "",
        "Random search in one process, each architecture scored by counting its parameters; "
        "bookkeeping: the whole search's seconds less the proxy's own (the study's writes and "
        "reads, the strategy). gtnas: the SQLite file as a search opens it (write-ahead log, "
        "synchronous=NORMAL); optuna-default: the same file as Optuna opens it (a disk flush per "
        "commit); memory: Optuna's in-memory storage, nothing kept. Simulated searches "
        "(`benchmarks.simulate`, `benchmarks.search_budget`) charge a free proxy its own seconds "
        "only: this is what a real one adds.",
        "",
        machine_line(records),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--storages", default=",".join(STORAGES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    kinds = args.storages.split(",")
    for kind in kinds:
        if kind not in STORAGES:
            parser.error(f"unknown storage {kind!r}; choose from {', '.join(STORAGES)}")
    records = [run_storage(kind, args.evaluations, args.seed, args.dataset) for kind in kinds]
    merged = write_records(
        args.out,
        "search_overhead",
        records,
        key=lambda r: (r["storage"], r.get("dataset"), r["evaluations"], r["seed"]),
        render=render_table,
    )
    print(render_table([r for r in merged if r in records]), end="")


if __name__ == "__main__":
    main()
