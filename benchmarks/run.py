"""``make bench``: every benchmark at one preset (quick by default). Long; never part of CI.
``python -m benchmarks.run --preset paper --only search`` runs one benchmark at another preset.
"""

from __future__ import annotations

from benchmarks import rankcorr, search, simulate, teach
from benchmarks.results import argument_parser

# In the order they run: the teacher benchmark, the search benchmark, the proxies against the
# shipped truth sets, then searches simulated from their scores (no preset: seconds).
BENCHMARKS = {"teach": teach, "search": search, "rankcorr": rankcorr, "simulate": simulate}


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=("quick", "paper"), default="quick")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run just this benchmark")
    args = parser.parse_args(argv)
    for name, module in BENCHMARKS.items():
        if args.only not in (None, name):
            continue
        if not hasattr(module, "PRESETS"):
            module.main([])
            continue
        if args.preset not in module.PRESETS:
            print(f"[bench] {name} has no {args.preset} preset; skipped", flush=True)
            continue
        module.main(["--preset", args.preset])


if __name__ == "__main__":
    main()
