"""Re-measure everything that stands on the long-horizon truth sets, in order, as they grow.

    python -m benchmarks.long_set [--dry-run] [--from STEP] [--truth-dir DIR]
        [--variants V,...] [--second-seed V,...]

The steps, each a benchmark run as its own process (the commands are printed first, so any one
can be run or resumed by hand):

1. ``train``: the teachers the later steps score, the seed-0 teacher of every variant and the
   second teachers (seed 1) of the shipped recipe and of T = 64; a teacher kept under
   ``benchmarks/results/teachers/`` is taken from there instead (a fresh machine trains only
   what was never finished), one not finished continues from its checkpoint;
2. ``rankcorr``: the long preset with the shipped ranking teacher (the real:K curve to 1,200
   steps, the zero-cost proxies, the floor, the teacher's ``gtn:32`` and its rank averages);
3. ``teachers``: the teacher recipes over 5 scoring seeds, on the test split (the report) and
   then on the validation split (what recipes and defaults are chosen by);
4. ``simulate`` and ``search-budget``: searches replayed from the records of step 2.

Every proxy's scores are cached per architecture (studies under ``benchmarks/runs/rankcorr``,
and JSON under ``benchmarks/results/scores/``, which a fresh machine reads), so a re-run on a
grown set scores only the architectures the set gained, and a run killed in any step resumes
where it stopped when the same command is given again (``--from STEP`` skips the steps before).
Sized on the AMD EPYC's 2 cores: 1-2 hours of one core per teacher trained (T = 64 twice
that), about 800 s of one core per new architecture (steps 2 and 3; real:1200, real:512 and
the five scoring seeds dominate), seconds for step 4. Beside a truth build, run it with
``OMP_NUM_THREADS=1``: a teacher's meta-training with a thread per core waits on the build's
workers (an iteration took over 25 minutes instead of 350 s; docs/experiments.md).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.results import argument_parser

ROOT = Path(__file__).resolve().parents[1]
TEACHERS = "benchmarks/runs/teacher_ranking/cpu/fashion-mnist"
SHIPPED = f"{TEACHERS}/teacher-fixed-step-rank"  # configs/nb201-rank-search.json's recipe
VARIANTS = "fixed-step,fixed-step-calibration,fixed-step-rank,fixed-step-rank-t64"
# the recipes with a second teacher (seed 1): the shipped one and the T = 64 lever (a teacher
# not yet finished is trained on, from its checkpoint, before it scores)
SECOND_SEED = "fixed-step-rank,fixed-step-rank-t64"
TEACHER_RANKING = ["-m", "benchmarks.teacher_ranking", "--preset", "cpu", "--score-seeds", "5"]


def steps(
    truth_dir: str | None, variants: str = VARIANTS, second_seed: str = SECOND_SEED
) -> list[tuple[str, list[str]]]:
    """(step, python arguments) in the order they run."""
    where = ["--truth-dir", truth_dir] if truth_dir else []
    train = [[*TEACHER_RANKING, "--variants", variants, "--train-only", *where]]
    if second_seed:
        train.append([*TEACHER_RANKING, "--variants", second_seed, "--seed", "1",
                      "--train-only", *where])  # fmt: skip
    teachers = []
    for metric in ("test", "val"):
        teachers.append([*TEACHER_RANKING, "--variants", variants, "--truth-metric", metric,
                         *where])  # fmt: skip
        if second_seed:
            teachers.append([*TEACHER_RANKING, "--variants", second_seed, "--seed", "1",
                             "--truth-metric", metric, *where])  # fmt: skip
    return [
        *(("train", command) for command in train),
        ("rankcorr", ["-m", "benchmarks.rankcorr", "--preset", "long", "--datasets",
                      "fashion-mnist", "--teacher", SHIPPED, *where]),
        *(("teachers", command) for command in teachers),
        ("simulate", ["-m", "benchmarks.simulate", *where]),
        ("search-budget", ["-m", "benchmarks.search_budget", *where]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    names = list(dict.fromkeys(name for name, _ in steps(None)))
    parser.add_argument("--from", dest="start", choices=names, default=names[0],
                        help="skip the steps before this one")  # fmt: skip
    parser.add_argument("--truth-dir", help="the truth sets' folder (default: truth/)")
    parser.add_argument("--variants", default=VARIANTS,
                        help=f"teacher recipes with a seed-0 teacher (default: {VARIANTS}; "
                        "the shipped one, fixed-step-rank, is always needed)")  # fmt: skip
    parser.add_argument("--second-seed", default=SECOND_SEED,
                        help=f"recipes with a second teacher, seed 1 (default: {SECOND_SEED}; "
                        "'' for none)")  # fmt: skip
    args = parser.parse_args(argv)
    if "fixed-step-rank" not in args.variants.split(","):
        parser.error("--variants must include fixed-step-rank: the rankcorr step scores it")
    chosen = steps(args.truth_dir, args.variants, args.second_seed)
    chosen = chosen[[name for name, _ in chosen].index(args.start) :]
    for name, command in chosen:
        print(f"[long_set] {name}: python {shlex.join(command)}", flush=True)
    if args.dry_run:
        return
    for name, command in chosen:
        start = time.time()
        done = subprocess.run([sys.executable, *command], cwd=ROOT, check=False)
        if done.returncode != 0:
            raise SystemExit(
                f"[long_set] {name} failed (exit {done.returncode}); fix it and continue with "
                f"python -m benchmarks.long_set --from {name}"
            )
        print(f"[long_set] {name}: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
