#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what it needs, then lints, runs the unit
# tests, executes every notebook in quick mode (TSDSAE_QUICK=1) and builds the book in quick
# mode, failing on any warning (broken reference, file missing from the table of contents,
# notebook error), and opens every built page in headless Chromium with the network off.
set -euo pipefail
export TSDSAE_NEED_BROWSER=1  # setup.sh installs Chromium too: the built book is checked in a real browser
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
export TSDSAE_QUICK=1
unset MPLBACKEND  # the notebooks' kernels must keep their inline backend, or the book has no figures
# quick-mode runs are trained once per test session and shared by the notebooks and the book build
TSDSAE_QUICK_RUNS="$(mktemp -d -t tsdsae-quick-runs-XXXXXX)"
export TSDSAE_QUICK_RUNS
trap 'rm -rf "$TSDSAE_QUICK_RUNS"' EXIT
echo "[test] ruff"
ruff check .
echo "[test] pytest: unit tests and notebooks (quick mode)"
python -m pytest tests --nbmake notebooks --nbmake-timeout=900 -p no:cacheprovider "$@"
echo "[test] the book, quick mode, warnings are errors"
# its own output folder: quick-mode pages must never be reused by the full book
QUICK_BOOK="$ROOT/_build/quick"
jupyter-book build --all -W -n --keep-going --path-output "$QUICK_BOOK" "$ROOT" > "$ROOT/_build.log" 2>&1 \
  || { tail -n 60 "$ROOT/_build.log"; exit 1; }
python - <<'PY'
# every chapter page shows figures, each with alt text
import pathlib, re, sys
pages = sorted(pathlib.Path("_build/quick/_build/html/notebooks").glob("*.html"))
bad = [p.name for p in pages if not re.search(r'<img alt="[^"]{20,}"', p.read_text())]
sys.exit(f"book pages without figures or alt text: {bad}" if bad or not pages else 0)
PY
echo "[test] every page of the quick-mode book in headless Chromium, offline"
python scripts/check_book.py _build/quick/_build/html
echo "[test] quick-mode book built: _build/quick/_build/html/index.html"
