#!/usr/bin/env bash
# The long-horizon truth sets, finished on a GPU machine (the `device` tool's H100/H200),
# where the two-core build takes days. Two steps:
#
#   bash truth/gpu.sh prepare   HERE: .gpu/ (git-ignored, about 50 MB) = wheels of what the GPU
#                               image lacks (optuna and its needs, platformdirs) and the MNIST
#                               and Fashion-MNIST files from the local cache, gzipped
#   bash truth/gpu.sh run       THERE: device run with carry [".gpu"]; both builds at once,
#                               each continuing its shipped file in truth/, exported to $OUT
#                               after every architecture (what finished comes back even when
#                               the deadline cuts the run)
#
# Then copy $OUT's truth files over truth/, check them (`gtnas truth show FILE`) and commit.
# Knobs (environment): DEADLINE seconds for the builds (default 480, inside the tool's
# 600 s per command), WORKERS trainings in flight per build (default 7: two builds on 16
# cores), DEVICE (default cuda), PY (default python3). GPU_SMOKE=1 runs tiny builds (2
# architectures, 1 epoch on 256 images) into $OUT/smoke-*.json: the plumbing, tried on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

FASHION=truth/fashion-mnist-nb201-n100-e7-search-head3-s2.json
MNIST=truth/mnist-nb201-n40-e7-search-head3-s2.json
WHEELS="optuna==5.1.0 alembic==1.20.1 sqlalchemy==2.1.9 mako==1.4.3 colorlog==6.12.0 platformdirs==4.14.9"

prepare() {
    local py=${PY:-.venv/bin/python} cache
    cache=$("$py" -c "from gtnas.data.fetch import cache_root; print(cache_root())")
    mkdir -p .gpu/whl
    # The GPU image's python is 3.12 (KINDS.md); the wheels are pure Python but SQLAlchemy's.
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/whl $WHEELS
    for name in mnist fashion-mnist; do
        [ -f "$cache/$name/train-images-idx3-ubyte" ] || [ -f "$cache/$name/train-images-idx3-ubyte.gz" ] || {
            echo "no $name in $cache: run \`make data data-fashion\` first" >&2
            exit 1
        }
        mkdir -p ".gpu/data/$name"
        for f in "$cache/$name"/*; do
            case $f in
            *.gz) cp "$f" ".gpu/data/$name/" ;;
            *) gzip -c "$f" >".gpu/data/$name/$(basename "$f").gz" ;;
            esac
        done
    done
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
    du -sh .gpu
}

build() { # build DATASET FILE EXTRA...: one truth build, continuing FILE, exported to $OUT
    # (each build its own study database: two processes writing one SQLite file can lock)
    local dataset=$1 file=$2 out
    shift 2
    out="$OUT/$(basename "$file")"
    [ -f "$file" ] && [ ! -f "$out" ] && cp "$file" "$out"
    timeout -k 30 "$DEADLINE" "$PY" -m gtnas truth build --dataset "$dataset" \
        --device "$DEVICE" --workers "$WORKERS" --export "$out" --out "/tmp/gtnas-truth-$dataset" "$@" \
        >"$OUT/$dataset.log" 2>&1 || echo "$dataset build ended with status $? (124: the deadline)"
}

run() {
    OUT=${OUT:?OUT is where the files come back: set it (the device tool does)}
    PY=${PY:-python3} DEVICE=${DEVICE:-cuda} WORKERS=${WORKERS:-7} DEADLINE=${DEADLINE:-480}
    export PYTHONUNBUFFERED=1 GTNAS_DATA=$PWD/.gpu/data
    if [ -d .gpu/whl ] && [ -z "${GPU_SMOKE:-}" ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/gtnas-site .gpu/whl/*.whl
        export PYTHONPATH=/tmp/gtnas-site:$PWD/src
    else
        export PYTHONPATH=$PWD/src
    fi
    {
        date -u
        nvidia-smi -L 2>/dev/null || true
        "$PY" -c "import torch, os; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cores', os.cpu_count())"
    } | tee "$OUT/machine.txt"
    # Several processes on one GPU: MPS lets their small kernels run side by side rather than
    # time-sliced; without it (not root, no daemon) the builds still run, slower.
    if [ "$DEVICE" != cpu ] && command -v nvidia-cuda-mps-control >/dev/null; then
        nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS on" | tee -a "$OUT/machine.txt" || true
    fi
    if [ -n "${GPU_SMOKE:-}" ]; then
        local tiny=(--n 2 --epochs 1 --train-subset 256 --seeds 2)
        build mnist "$OUT/smoke-mnist.json" "${tiny[@]}" --study smoke-mnist &
        build fashion-mnist "$OUT/smoke-fashion-mnist.json" "${tiny[@]}" --study smoke-fashion &
    else
        build fashion-mnist "$FASHION" &
        build mnist "$MNIST" --n 40 &
    fi
    wait
    "$PY" - "$OUT" <<'EOF'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    d = json.loads(path.read_text())
    print(f"{path.name}: {len(d['records'])} of {d['n']} architectures, complete {d['complete']}")
EOF
}

case ${1:-} in
prepare) prepare ;;
run) run ;;
*)
    echo "usage: bash truth/gpu.sh prepare|run (see the comment at its top)" >&2
    exit 2
    ;;
esac
