#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what it needs, then lints, runs the
# unit tests and executes every notebook in quick mode (TSDSAE_QUICK=1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
export TSDSAE_QUICK=1 MPLBACKEND=Agg
echo "[test] ruff"
ruff check .
echo "[test] pytest: unit tests and notebooks (quick mode)"
python -m pytest tests --nbmake notebooks --nbmake-timeout=900 -p no:cacheprovider "$@"
