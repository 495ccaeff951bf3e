r"""Meta-step overhead: the time of one meta-gradient (a fresh learner trained through T inner
steps with create_graph, then the backward through all of them) against the same T steps
without meta-gradients, per teacher, on the teacher benchmark's settings. Minutes, not hours:
use it to see where a change to the learner or the inner loop moves the meta-step, before
paying for a whole ``benchmarks.teach`` run.

    python -m benchmarks.overhead                      # paper size, gtn / pixels / nocurriculum
    python -m benchmarks.overhead --preset quick --repeats 5

Writes ``overhead.json`` (one record per preset and teacher; a re-run replaces its own) and
``overhead.md`` into ``benchmarks/results/`` (or ``--out``). To compare two versions of the code,
run it from each checkout on the same machine, one after the other (timings from different
sessions differ by 10% or more, and by 2x between CPU models).
The teachers are untrained (pixels copy real images, as the warm start does): the cost of a
step does not depend on what the teacher has learned. Real data scores every inner step, as
meta-training does by default (``meta.meta_loss_every=1``).

Like meta-training it keeps freed memory in the process (:mod:`gtnas.runtime.allocator`) and
counts the minor page faults of the timed runs; ``GTNAS_KEEP_FREED_MEMORY=0 python -m
benchmarks.overhead`` measures glibc's default behaviour instead (a separate record).
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records
from benchmarks.teach import PRESETS, preset_config

RESULTS = Path(__file__).parent / "results"
TEACHERS = ("gtn", "pixels", "gtn-nocurriculum")


def time_teacher(preset: str, teacher_name: str, repeats: int, seed: int) -> dict[str, Any]:
    """Seconds of ``repeats`` plain inner runs and meta-gradients (after one of each to warm
    up), alternating so that a drift of the machine hits both alike."""
    import torch

    from benchmarks.machine import describe_machine
    from gtnas.data import load_dataset
    from gtnas.meta.meta_step import sample_real_batches
    from gtnas.meta.run import make_learner_sampler
    from gtnas.meta.unroll import meta_gradient, train_learner
    from gtnas.runtime.allocator import keep_freed_memory
    from gtnas.seeding import make_generator
    from gtnas.teachers.base import create_teacher

    kept = keep_freed_memory()  # as meta-training does; GTNAS_KEEP_FREED_MEMORY=0 to compare

    config = preset_config(preset, "mnist", teacher_name, seed)
    dataset = load_dataset(config.dataset, quiet=True)
    images, labels = dataset.train.images, dataset.train.labels
    generator = make_generator(seed)
    teacher = create_teacher(
        teacher_name,
        config.teacher_options,
        dataset.image_shape,
        dataset.num_classes,
        real_images=images,
        real_labels=labels,
        generator=generator,
    )
    if teacher_name == "pixels":  # its warm start is a copy of real images: free
        teacher.warm_start(images, labels, generator=generator)
    sampler = make_learner_sampler(config, dataset.image_shape, dataset.num_classes)
    steps = config.meta.scored_steps(teacher.inner_steps)
    cpu = torch.device("cpu")

    faults: dict[str, int] = {"plain": 0, "meta": 0}  # minor page faults over the repeats

    def timed(kind: str, work: Callable[[], object]) -> float:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        work()
        seconds = time.perf_counter() - start
        faults[kind] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        return seconds

    def plain() -> float:
        learner = sampler.sample(generator)
        teacher.begin_episode(generator)
        return timed("plain", lambda: train_learner(learner, teacher))

    def meta() -> float:
        learner = sampler.sample(generator)
        teacher.begin_episode(generator)
        real = sample_real_batches(
            images, labels, steps, config.meta.real_batch_size, generator, cpu
        )
        return timed("meta", lambda: meta_gradient(learner, teacher, real))

    plain(), meta()
    faults.update(plain=0, meta=0)  # count the timed repeats only
    plain_s, meta_s = [], []
    for _ in range(repeats):
        plain_s.append(plain())
        meta_s.append(meta())
    return {
        "preset": preset,
        "teacher": teacher_name,
        "inner_steps": config.teacher_options.inner_steps,
        "batch_size": config.teacher_options.batch_size,
        "scored_steps": len(steps),
        "repeats": repeats,
        "plain_seconds": plain_s,
        "meta_seconds": meta_s,
        "plain_mean": statistics.fmean(plain_s),
        "meta_mean": statistics.fmean(meta_s),
        "meta_overhead": statistics.fmean(meta_s) / statistics.fmean(plain_s),
        "keep_freed_memory": kept,
        "plain_page_faults": faults["plain"] // repeats,
        "meta_page_faults": faults["meta"] // repeats,
        "seed": seed,
        "machine": describe_machine(),
    }


def render_table(records: list[dict[str, Any]]) -> str:
    def spread(xs: list[float]) -> str:
        return f"{statistics.fmean(xs):.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.2f}"

    lines = [
        "# Meta-step overhead (seconds per T inner steps)",
        "",
        "| preset | teacher | T x B | repeats | plain s | meta-gradient s | overhead "
        "| page faults (plain / meta) | freed memory kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        faults = (
            f"{r['plain_page_faults']:,} / {r['meta_page_faults']:,}"
            if "meta_page_faults" in r
            else "-"
        )
        kept = {True: "yes", False: "no"}.get(r.get("keep_freed_memory"), "-")
        lines.append(
            f"| {r['preset']} | {r['teacher']} | {r['inner_steps']} x {r['batch_size']} | "
            f"{r['repeats']} | {spread(r['plain_seconds'])} | {spread(r['meta_seconds'])} | "
            f"{r['meta_overhead']:.2f}x | {faults} | {kept} |"
        )
    label = lambda r: f"{r['preset']} {r['teacher']}"  # noqa: E731
    return "\n".join([*lines, "", machine_line(records, label), ""])


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--teachers", default=",".join(TEACHERS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    records = []
    for teacher in args.teachers.split(","):
        record = time_teacher(args.preset, teacher, args.repeats, args.seed)
        print(
            f"[overhead] {args.preset} {teacher}: plain {record['plain_mean']:.2f} s, "
            f"meta {record['meta_mean']:.2f} s, {record['meta_overhead']:.2f}x",
            flush=True,
        )
        records.append(record)
    merged = write_records(
        args.out,
        "overhead",
        records,
        lambda r: (r["preset"], r["teacher"], r.get("keep_freed_memory")),
        render_table,
    )
    print(render_table(merged))


if __name__ == "__main__":
    main()
