#!/usr/bin/env bash
# Put every carried run back into results/, unless the run there is already further on.
set -euo pipefail
cd "$(dirname "$0")/.."
for ckpt in .carry/*/*/last.ckpt; do
  [ -e "$ckpt" ] || continue
  src=$(dirname "$ckpt"); run=results/${src#.carry/}
  [ -e "$run/result.json" ] && { echo "skip $run: finished"; continue; }
  have=0; [ -e "$run/last.pt" ] && [ -e "$run/metrics.jsonl" ] && have=$(wc -l < "$run/metrics.jsonl")
  carried=$(wc -l < "$src/metrics.jsonl")
  if [ "$have" -ge "$carried" ]; then echo "skip $run: at $have epochs, carried $carried"; continue; fi
  mkdir -p "$run"
  cp "$src/config.json" "$src/metrics.jsonl" "$run/"
  cp "$ckpt" "$run/.last.pt.tmp-$$" && mv "$run/.last.pt.tmp-$$" "$run/last.pt"
  echo "restored $run ($carried epochs)"
done
