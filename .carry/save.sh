#!/usr/bin/env bash
# Copy the resume state of every unfinished run in results/ into .carry/ (atomically).
set -euo pipefail
cd "$(dirname "$0")/.."
for last in results/*/*/last.pt; do
  [ -e "$last" ] || continue
  run=$(dirname "$last")
  [ -e "$run/result.json" ] && continue
  dest=.carry/${run#results/}
  mkdir -p "$dest"
  for f in last.pt config.json metrics.jsonl; do
    name=$f; [ "$f" = last.pt ] && name=last.ckpt
    cp "$run/$f" "$dest/.$name.tmp-$$" && mv "$dest/.$name.tmp-$$" "$dest/$name"
  done
  echo "carried $run ($(wc -l < "$dest/metrics.jsonl") epochs)"
done
# drop entries of runs that have finished
for d in .carry/*/*/; do
  [ -d "$d" ] || continue
  run=results/${d#.carry/}
  if [ -e "$run/result.json" ]; then rm -r "$d"; echo "dropped ${run%/} (finished)"; fi
done
