"""Re-measure everything that stands on the long-horizon truth sets, in order, as they grow.

    python -m benchmarks.long_set [--dry-run] [--from STEP] [--truth-dir DIR]

The steps, each a benchmark run as its own process (the commands are printed first, so any one
can be run or resumed by hand):

1. ``rankcorr``: the long preset with the shipped ranking teacher (the real:K curve to 1,200
   steps, the zero-cost proxies, the floor, the teacher's ``gtn:32`` and its rank averages);
2. ``teachers``: the teacher recipes over 5 scoring seeds, the seed-0 teachers of every variant
   and the second teachers of the shipped recipe and of T = 64, on the test split (the report)
   and then on the validation split (what recipes and defaults are chosen by);
3. ``simulate`` and ``search-budget``: searches replayed from the records of step 1.

Every proxy's scores are cached per architecture (``benchmarks/runs/rankcorr``), so a re-run on
a grown set scores only the architectures the set gained, and a run killed in any step resumes
where it stopped when the same command is given again (``--from STEP`` skips the steps before).
Sized on the AMD EPYC's 2 cores: about 800 s of one core per new architecture (steps 1 and 2;
real:1200, real:512 and the five scoring seeds dominate), seconds for step 3.
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


def steps(truth_dir: str | None) -> list[tuple[str, list[str]]]:
    """(step, python arguments) in the order they run."""
    where = ["--truth-dir", truth_dir] if truth_dir else []
    teachers = []
    for metric in ("test", "val"):
        teachers += [
            [*TEACHER_RANKING, "--variants", VARIANTS, "--truth-metric", metric, *where],
            [*TEACHER_RANKING, "--variants", SECOND_SEED, "--seed", "1",
             "--truth-metric", metric, *where],
        ]  # fmt: skip
    return [
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
    args = parser.parse_args(argv)
    chosen = steps(args.truth_dir)
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
