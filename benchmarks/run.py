"""``make bench``: every benchmark at its default size. Long; never part of CI."""

from __future__ import annotations

import sys

from benchmarks import teach


def main() -> None:
    teach.main(sys.argv[1:] or ["--preset", "quick"])


if __name__ == "__main__":
    main()
