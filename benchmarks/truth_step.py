r"""A truth training's step on this machine: what a long truth build costs here before it
runs, and where a step's time goes. Minutes, not the hours of a training.

    python -m benchmarks.truth_step                      # the Fashion-MNIST set's cells 0, 1, 2
    python -m benchmarks.truth_step --cells 0,40,66 --repeats 5

Per cell of the truth file (`--truth`): milliseconds per SGD step on one thread at the
long sets' recipe (`search-head3`, batch 128 of 28x28 images, SGD with Nesterov momentum and
weight decay, gradient clipping), with the weights channels-last as the trainer keeps them and
contiguous as it kept them before (the first 72 cells of the Fashion-MNIST set), interleaved so
that a drift of the machine hits both; the seconds a whole training (`steps` of the file)
would take at the trainer's pace, against the seconds the file recorded for the cell. Their
ratio is how much slower (above 1) this machine is than the ones that trained the set, and the
build's time left (`gtnas.search.truth_pace`, priced at the file's rate) times the median
ratio is what the rest costs here. The first cell's step is profiled (the top
operators by their own time). Random images and labels: a step's cost does not depend on
what the network has learned (no subnormal values were found in a trained cell's weights,
momentum or activations; docs/experiments.md, seventh session).

Writes ``truth_step.json`` (one record per truth file, cell and machine; a re-run replaces its
own) and ``truth_step.md`` into ``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

RESULTS = Path(__file__).parent / "results"
TRUTH = Path(__file__).parents[1] / "truth" / "fashion-mnist-nb201-n100-e7-search-head3-s2.json"
BATCH = 128


def time_cell(record: dict[str, Any], document: dict[str, Any], repeats: int, seed: int,
              profile: bool) -> dict[str, Any]:  # fmt: skip
    """Milliseconds per step of one cell, weights channels-last (the trainer's layout) and
    contiguous, ``repeats`` rounds of 4 steps each after 2 warm-up steps."""
    import torch

    from benchmarks.machine import describe_machine
    from gtnas.config import config_from_dict
    from gtnas.data.catalog import resolve
    from gtnas.seeding import make_generator
    from gtnas.spaces.base import parse_genotype
    from gtnas.training.recipe import FinalTrainConfig
    from gtnas.training.trainer import make_optimizer, train_step

    torch.set_num_threads(1)  # as each worker of a build trains
    spec = resolve(document["dataset"])
    shape, classes = tuple(spec.image_shape), spec.num_classes
    space, genotype = parse_genotype(record["genotype"])
    blueprint = space.resolve_blueprint(document["blueprint"])
    config = config_from_dict(FinalTrainConfig, document.get("recipe", {}))
    generator = make_generator(seed)
    images = torch.randn((BATCH, *shape), generator=generator)  # (B, C, H, W)
    labels = torch.randint(0, classes, (BATCH,), generator=generator)  # (B,)

    def stepper(channels_last: bool):
        torch.manual_seed(seed)
        network = space.build(genotype, shape, classes, norm="bn", blueprint=blueprint)
        batch = images
        if channels_last:
            network = network.to(memory_format=torch.channels_last)
            batch = images.contiguous(memory_format=torch.channels_last)
        optimizer = make_optimizer(network, config)
        backup = [b.clone() for b in network.buffers()]
        return lambda: train_step(network, optimizer, batch, labels, 0.01, config, backup)

    variants = {"channels_last": stepper(True), "contiguous": stepper(False)}
    for step in variants.values():
        step(), step()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, step in variants.items():
            start = time.perf_counter()
            for _ in range(4):
                step()
            seconds[name].append((time.perf_counter() - start) / 4)
    ms = {name: 1000 * statistics.median(values) for name, values in seconds.items()}
    top: list[dict[str, Any]] = []
    if profile:
        from torch.profiler import profile as torch_profile

        with torch_profile() as prof:
            for _ in range(3):
                variants["channels_last"]()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events) or 1.0
        top = [{"op": e.key, "share": e.self_cpu_time_total / total} for e in events[:6]]
    steps = int(record.get("steps") or document.get("steps") or 0)
    recorded = min(s["train_seconds"] for s in record["seeds"]) if record.get("seeds") else None
    predicted = ms["channels_last"] / 1000 * steps
    return {
        "truth": document.get("name", ""),
        "genotype": record["genotype"],
        "flops": record.get("flops"),
        "repeats": repeats,
        "ms_per_step": ms["channels_last"],  # as gtnas.training.trainer trains
        "ms_per_step_contiguous": ms["contiguous"],
        "ms_per_step_all": {name: [1000 * s for s in v] for name, v in seconds.items()},
        "training_seconds": predicted,
        "recorded_training_seconds": recorded,
        "slower_than_recorded": predicted / recorded if recorded else None,
        "profile": top,
        "profile_layout": "channels_last",  # the variant profiled
        "seed": seed,
        "machine": describe_machine(),
    }


def build_left(document: dict[str, Any]) -> float | None:
    """The time left of the file's build at the file's own rate (seconds, 2 workers)."""
    from gtnas.search.truth_build import TruthConfig
    from gtnas.search.truth_pace import BuildPace

    config = TruthConfig(
        dataset=document["dataset"],
        space=document["space"],
        n=int(document.get("planned") or document["n"]),  # "n": the records so far
        seed=int(document["seed"]),
        seeds=len(document["seeds"]),
        seeds_for=document.get("seeds_for"),
    )
    pace = BuildPace.for_build(config)
    if pace is None:
        return None
    pace.add_document(document)
    left = pace.left()
    return None if left is None else left.seconds


def render_table(records: list[dict[str, Any]]) -> str:
    lines = [
        "# A truth training's step on this machine (one thread, batch 128)",
        "",
        "| truth file | cell | MFLOPs | ms/step | contiguous weights | a training here | recorded "
        "| slower than recorded | build left here |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        flops = f"{r['flops'] / 1e6:.1f}" if r.get("flops") else "-"
        recorded = r.get("recorded_training_seconds")
        ratio = r.get("slower_than_recorded")
        left = r.get("build_left_here")
        lines.append(
            f"| {r['truth']} | `{r['genotype']}` | {flops} | {r['ms_per_step']:.0f} "
            f"| {r['ms_per_step_contiguous']:.0f} | {r['training_seconds']:.0f} s "
            f"| {f'{recorded:.0f} s' if recorded else '-'} "
            f"| {f'{ratio:.1f}x' if ratio else '-'} "
            f"| {f'{left / 3600:.1f} h' if left is not None else '-'} |"
        )
    for r in records:
        if r.get("profile"):
            shares = ", ".join(f"{p['op']} {100 * p['share']:.0f}%" for p in r["profile"])
            lines += ["", f"Where a step's time goes (`{r['genotype']}`): {shares}."]
    lines += [
        "",
        "ms/step: weights channels-last, as the trainer keeps them; contiguous weights: as it "
        "kept them before. A training here: ms/step x the file's steps. Slower than recorded: "
        "that against the "
        "fastest seed the file recorded for the cell. Build left here: the build's time left at "
        "the file's rate (`gtnas.search.truth_pace`, 2 workers) x the median ratio.",
        "",
        machine_line(records),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import json

    parser = argument_parser(__doc__)
    parser.add_argument("--truth", type=Path, default=TRUTH, help="truth file (format 2)")
    parser.add_argument("--cells", default="0,1,2", help="record indices, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    document = json.loads(args.truth.read_text())
    document["name"] = args.truth.stem
    cells = [int(c) for c in args.cells.split(",") if c.strip()]
    records = [
        time_cell(document["records"][i], document, args.repeats, args.seed, profile=n == 0)
        for n, i in enumerate(cells)
    ]
    ratios = [r["slower_than_recorded"] for r in records if r["slower_than_recorded"]]
    left = build_left(document)
    for r in records:
        r["build_left_here"] = (
            left * statistics.median(ratios) if left is not None and ratios else None
        )
    merged = write_records(
        args.out,
        "truth_step",
        records,
        key=lambda r: (r["truth"], r["genotype"], r["machine"]["platform"]),
        render=render_table,
    )
    print(render_table([r for r in merged if r in records]), end="")


if __name__ == "__main__":
    main()
