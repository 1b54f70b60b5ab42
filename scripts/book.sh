#!/usr/bin/env bash
# The main job: installs what it needs, synthesises the paper's data set, executes every
# notebook and builds the tutorial as a Jupyter Book (HTML). Quick mode: TSDSAE_QUICK=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
unset MPLBACKEND  # the notebooks' kernels keep their inline backend: figures appear in the book
echo "[book] synthesising the data set (cached after the first run)"
tsdsae synth --preset paper
echo "[book] executing the notebooks and building the HTML"
jupyter-book build --all "$ROOT"
echo
echo "[book] done: open file://$ROOT/_build/html/index.html"
