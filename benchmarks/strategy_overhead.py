r"""What a search strategy costs per proposal under a set proxy, where every result re-tells
the standings of all (``rankavg:A+B``): seconds spent asking, and for TPE how many in-memory
studies it built, against TPE rebuilding at every ask after a re-telling (what it did before
it checked its split), in the same run.

    python -m benchmarks.strategy_overhead                  # 400 asks, seed 0
    python -m benchmarks.strategy_overhead --asks 1000 --strategies tpe

The proxy is simulated (no network is trained): two independent uniform components per
architecture, seeded; each new architecture's standing is the rank average of the two over all
scored so far, divided by their count, as :mod:`gtnas.search.proxies.rank_average` tells it,
and a repeated proposal is told its standing now. Seconds are the strategy's own (ask, tell
and restand), on nb201. Writes ``strategy_overhead.json`` (one record per strategy, variant,
asks and seed; a re-run replaces its own) and ``strategy_overhead.md`` into
``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

RESULTS = Path(__file__).parent / "results"


def always_rebuilding_tpe(space: Any, seed: int) -> Any:
    """TPE as it was: a new study at every ask after the standings moved."""
    from gtnas.search.strategies import TPESearch

    class AlwaysRebuilding(TPESearch):
        def _split_holds(self) -> bool:
            if any(entry is None for entry in self.held):
                return False
            return [v for _, v in self.held] == [s for _, _, s in self.history]  # type: ignore[misc]

    return AlwaysRebuilding(space, seed)


def run_strategy(name: str, variant: str, asks: int, seed: int) -> dict[str, Any]:
    """Seconds of ``asks`` proposals (ask, tell, restand) under a simulated rank average."""
    from scipy.stats import rankdata

    from benchmarks.machine import describe_machine
    from gtnas.search.strategies import create_strategy
    from gtnas.spaces import create_space

    space = create_space("nb201")
    if variant == "rebuild-every-ask":
        strategy = always_rebuilding_tpe(space, seed)
    else:
        strategy = create_strategy(name, space, seed)
    components = random.Random(seed)
    names: list[str] = []
    first: list[float] = []
    second: list[float] = []
    standings: dict[str, float] = {}
    seconds = 0.0
    for _ in range(asks):
        start = time.perf_counter()
        genotype = strategy.ask()
        seconds += time.perf_counter() - start
        text = space.format(genotype)
        if text not in standings:  # a new architecture: its components, then all standings
            names.append(text)
            first.append(components.random())
            second.append(components.random())
            ranks = (rankdata(first) + rankdata(second)) / 2 / len(names)  # in (0, 1]
            standings = dict(zip(names, ranks.tolist(), strict=True))
        start = time.perf_counter()
        strategy.tell(genotype, standings[text])
        strategy.restand(standings)
        seconds += time.perf_counter() - start
    return {
        "strategy": name,
        "variant": variant,
        "asks": asks,
        "distinct": len(names),
        "seconds": seconds,
        "ms_per_ask": 1000 * seconds / asks,
        "studies_built": getattr(strategy, "generation", None),
        "seed": seed,
        "machine": describe_machine(),
    }


def render_table(records: list[dict[str, Any]]) -> str:
    lines = [
        "# A strategy's own seconds under a set proxy (nb201, rank average of two components)",
        "",
        "| strategy | variant | asks | distinct | seconds | ms per ask | studies built | seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        built = "-" if r["studies_built"] is None else f"{r['studies_built']}"
        lines.append(
            f"| {r['strategy']} | {r['variant']} | {r['asks']} | {r['distinct']} "
            f"| {r['seconds']:.1f} | {r['ms_per_ask']:.1f} | {built} | {r['seed']} |"
        )
    lines += [
        "",
        "Seconds: the strategy's ask, tell and restand, nothing else. rebuild-every-ask: TPE "
        "building a new in-memory study at every ask after the standings moved; checked-split: "
        "only where the good/bad split it holds differs from the standings' now.",
        "",
        machine_line(records),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--asks", type=int, default=400)
    parser.add_argument("--strategies", default="random,evolution,tpe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = []
    for name in args.strategies.split(","):
        if name == "tpe":
            runs += [("tpe", "checked-split"), ("tpe", "rebuild-every-ask")]
        else:
            runs.append((name, "-"))
    records = [run_strategy(name, variant, args.asks, args.seed) for name, variant in runs]
    merged = write_records(
        args.out,
        "strategy_overhead",
        records,
        key=lambda r: (r["strategy"], r["variant"], r["asks"], r["seed"]),
        render=render_table,
    )
    print(render_table([r for r in merged if r in records]), end="")


if __name__ == "__main__":
    main()
