#!/usr/bin/env bash
# Installs everything tsdsae needs, idempotently; sourced by scripts/test.sh and scripts/book.sh.
#  1. FluidSynth and the MuseScore General Lite soundfont, and Chromium for the tests'
#     browser check when TSDSAE_NEED_BROWSER=1 (Debian packages; installed when run as root,
#     otherwise the exact command is printed and the script stops);
#  2. a virtual environment (.venv, or $TSDSAE_VENV) with the pinned stack of pyproject.toml,
#     reinstalled only when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TSDSAE_VENV:-$ROOT/.venv}"
SOUNDFONT=/usr/share/sounds/sf3/MuseScore_General_Lite.sf3
DEBS="fluidsynth musescore-general-soundfont-small"
# the test suite also opens the built book in headless Chromium (scripts/check_book.py)
[ "${TSDSAE_NEED_BROWSER:-0}" = 1 ] && DEBS="$DEBS chromium"

have_system_deps() {
  { ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; } && [ -f "$SOUNDFONT" ] \
    && { [ "${TSDSAE_NEED_BROWSER:-0}" != 1 ] || command -v chromium >/dev/null; }
}

if ! have_system_deps; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages: $DEBS"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $DEBS >/dev/null
  elif command -v apt-get >/dev/null; then
    echo "[setup] FluidSynth or the soundfont is missing. Run:"
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $DEBS"
    echo "then run this command again."
    exit 1
  elif [ -n "${TSDSAE_SOUNDFONT:-}" ] && [ -f "${TSDSAE_SOUNDFONT}" ]; then
    echo "[setup] not Debian; using soundfont \$TSDSAE_SOUNDFONT=$TSDSAE_SOUNDFONT"
  else
    echo "[setup] FluidSynth or a soundfont is missing. On macOS: 'brew install fluid-synth',"
    echo "then download a General MIDI soundfont (e.g. MuseScore_General.sf3) and"
    echo "    export TSDSAE_SOUNDFONT=/path/to/MuseScore_General.sf3"
    echo "then run this command again."
    exit 1
  fi
fi

PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  echo "[setup] tsdsae needs Python 3.11 (e.g. 'sudo apt-get install python3.11 python3.11-venv' or pyenv)."
  exit 1
fi

STAMP="$VENV/.tsdsae-installed"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "[setup] installing the pinned stack into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --no-cache-dir -e "$ROOT[book,test,dev]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"

# The book's widget views without a network: the JavaScript that renders a notebook's saved widget
# state (the swap explorer), from two pinned npm packages, kept in the venv and copied into the built
# book by book/_ext/offline_widgets.py.
WIDGETS="$VENV/share/tsdsae/widgets"
if [ ! -f "$WIDGETS/embed-amd.js" ] || [ ! -f "$WIDGETS/require.js" ]; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "[setup] installing npm (Debian) to fetch the book's widget JavaScript"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
    else
      echo "[setup] npm is missing; the book's widget views need it once. Install Node.js and npm"
      echo "    (Debian: sudo apt-get install -y npm), then run this command again."
      exit 1
    fi
  fi
  echo "[setup] fetching the widget JavaScript (npm: @jupyter-widgets/html-manager@1.0.15, requirejs@2.3.8)"
  TMP_WIDGETS="$(mktemp -d)"
  (cd "$TMP_WIDGETS" && npm pack --silent @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 >/dev/null)
  mkdir -p "$TMP_WIDGETS/html-manager" "$TMP_WIDGETS/requirejs" "$TMP_WIDGETS/out"
  tar xzf "$TMP_WIDGETS/jupyter-widgets-html-manager-1.0.15.tgz" -C "$TMP_WIDGETS/html-manager"
  tar xzf "$TMP_WIDGETS/requirejs-2.3.8.tgz" -C "$TMP_WIDGETS/requirejs"
  find "$TMP_WIDGETS/html-manager/package/dist" -maxdepth 1 -type f ! -name '*.map' ! -name embed.js ! -name libembed-amd.js \
    -exec cp {} "$TMP_WIDGETS/out/" \;
  cp "$TMP_WIDGETS/requirejs/package/require.js" "$TMP_WIDGETS/out/"
  mkdir -p "$(dirname "$WIDGETS")" && rm -rf "$WIDGETS" && mv "$TMP_WIDGETS/out" "$WIDGETS"
  rm -rf "$TMP_WIDGETS"
fi
