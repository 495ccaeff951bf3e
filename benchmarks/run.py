"""``make bench``: every benchmark at one preset (quick by default). Long; never part of CI.
``python -m benchmarks.run --preset paper --only search`` runs one benchmark at another preset.
"""

from __future__ import annotations

import argparse

from benchmarks import search, teach

# In the order they run: the teacher benchmark, then the search benchmark.
BENCHMARKS = {"teach": teach.main, "search": search.main}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("quick", "paper"), default="quick")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run just this benchmark")
    args = parser.parse_args(argv)
    for name, run in BENCHMARKS.items():
        if args.only in (None, name):
            run(["--preset", args.preset])


if __name__ == "__main__":
    main()
