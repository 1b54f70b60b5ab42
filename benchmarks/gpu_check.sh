#!/usr/bin/env bash
# GPU readiness in one short run (≤ 8 min on a CUDA machine):
#   1. step times of every method at the paper's shapes (float32 and bf16 autocast), on the GPU;
#   2. TS-DSAE trained with the `paper` preset (z = 16, seed 0) for as many epochs as fit in
#      TRAIN_SECONDS (default 300), then its per-epoch time and validation terms;
# all written to one file (default gpu_check.txt). Needs the venv (scripts/setup.sh) and the
# paper's data set (built here with FluidSynth if it is not cached yet).
#
#   bash benchmarks/gpu_check.sh [OUT]
#
# Without a CUDA GPU it says so and skips the GPU part (exit 0). DEVICE=cpu runs the same
# steps on the CPU (as the tests do, with TSDSAE_QUICK=1, STEPS=1, BENCH_ARGS="--batch 8 --rounds 1"
# and a short TRAIN_SECONDS).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-gpu_check.txt}")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python
DEVICE="${DEVICE:-cuda}"
STEPS="${STEPS:-10}"
TRAIN_SECONDS="${TRAIN_SECONDS:-300}"
BENCH_ARGS="${BENCH_ARGS:---rounds 3}"
cd "$ROOT"

if [ "$DEVICE" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: no CUDA GPU visible to torch on this machine: skipping the GPU part" | tee "$OUT"
  exit 0
fi
RUN="$(mktemp -d -t tsdsae-gpu-check-XXXXXX)"
trap 'rm -rf "$RUN"' EXIT
{
  echo "# tsdsae GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  [ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  echo "## 1. step times ($DEVICE)"
  # shellcheck disable=SC2086
  "$PY" benchmarks/bench_train.py --device "$DEVICE" --steps "$STEPS" $BENCH_ARGS
  echo "## 2. TS-DSAE, paper preset, z = 16, seed 0: as many epochs as fit in ${TRAIN_SECONDS} s"
} 2>&1 | tee "$OUT"
"$PY" -m tsdsae.cli synth --preset paper --no-progress > /dev/null
# the run is cut off by the clock; every finished epoch is in metrics.jsonl (checkpoints are atomic)
timeout --signal=INT "$TRAIN_SECONDS" "$PY" -m tsdsae.cli train --preset paper --method ts-dsae --z-dim 16 \
  --seed 0 --device "$DEVICE" --no-progress --run-dir "$RUN/ts-dsae" > /dev/null 2>&1 || true
"$PY" - "$RUN/ts-dsae" <<'PY' 2>&1 | tee -a "$OUT"
import statistics, sys
from tsdsae.runs import read_metrics
ms = read_metrics(sys.argv[1])
for stage in (1, 2):
    s = [m["seconds"] for m in ms if m["stage"] == stage]
    if s:
        print(f"stage {stage}: {len(s)} epochs, median {statistics.median(s):.2f} s per epoch")
last = ms[-1]
print(f"after epoch {last['epoch']}: val " + ", ".join(f"{k} {v:.4f}" for k, v in last["val"].items()))
PY
echo "gpu_check: written to $OUT"
