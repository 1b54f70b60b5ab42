"""Open every page of a built book in headless Chromium, offline, and check what a reader sees.

    python scripts/check_book.py _build/quick/_build/html

Chromium loads each page from disk with every network request refused, runs its scripts, and
the rendered DOM must show: equations typeset by MathJax (no raw ``\\(`` left), computed tables
as ``<table>`` elements (no paragraph holding a Markdown table), saved widget views rendered, and
every image, audio and script source present on disk (none from the network). Prints one line
per problem and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

#: flags of a Chromium that touches no network: every host unresolvable, every proxy dead
OFFLINE_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9", "--allow-file-access-from-files",
]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("check_book: Chromium is missing: sudo apt-get install -y --no-install-recommends chromium")


def rendered_dom(page: Path, chromium: str, budget_ms: int = 15000) -> str:
    """The page's DOM after its scripts ran (Chromium's virtual time lets MathJax finish)."""
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}",
                              f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()],
                             capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or "<html" not in out.stdout:
        raise RuntimeError(f"Chromium could not render {page}: {out.stderr.strip()[-300:]}")
    return out.stdout


def _visible_text(dom: str) -> str:
    """The page's prose: no head, scripts, styles, code blocks or MathJax's hidden MathML."""
    dom = re.sub(r"<head\b.*?</head>", " ", dom, flags=re.S | re.I)
    dom = re.sub(r"<(script|style|noscript|pre|code)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    dom = re.sub(r"<mjx-assistive-mml\b.*?</mjx-assistive-mml>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def problems(page: Path, dom: str) -> list[str]:
    """What a reader of ``page`` would see wrong, judged from its rendered ``dom``."""
    found = []
    text = _visible_text(dom)
    raw_math = [m for m in (r"\(", r"\[", "$$") if m in text]
    if re.search(r"\$\s*\\?[A-Za-z{]", text):  # a dollar that MathJax did not take: "$ \mathcal{L}_2 = …"
        raw_math.append("$")
    if raw_math:
        found.append(f"untypeset equations (raw {' '.join(raw_math)} in the text)")
    for para in re.findall(r"<p\b[^>]*>(.*?)</p>", dom, flags=re.S | re.I):
        if re.search(r"\|\s*:?-{3,}", para):
            found.append("a Markdown table rendered as a paragraph")
            break
    if re.search(r"application/vnd\.jupyter\.widget-view\+json", dom) and not re.search(
            r"class=\"[^\"]*\bjupyter-widgets\b", dom):
        found.append("a saved widget view that did not render")
    for tag, src in re.findall(r"<(img|audio|source|script)\b[^>]*?\bsrc=\"([^\"]+)\"", dom, flags=re.I):
        url = urlparse(src)
        if url.scheme in ("data", "blob"):
            continue
        if url.scheme in ("http", "https"):
            found.append(f"{tag} from the network: {src}")
        elif not (page.parent / unquote(url.path)).is_file():
            found.append(f"{tag} source missing: {src}")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html_dir", type=Path)
    args = ap.parse_args(argv)
    pages = sorted(p for p in args.html_dir.rglob("*.html")
                   if not p.name.startswith(("genindex", "search")) and "_static" not in p.parts)
    if not pages:
        print(f"check_book: no HTML pages under {args.html_dir}")
        return 1
    chromium = find_chromium()
    failed = 0
    for page in pages:
        if re.search(r'<meta http-equiv="refresh"', page.read_text(), flags=re.I):
            continue  # a redirect (the site's index.html): its target is checked as a page of its own
        for problem in problems(page, rendered_dom(page, chromium)):
            print(f"{page.relative_to(args.html_dir)}: {problem}")
            failed += 1
    print(f"check_book: {len(pages)} pages opened offline in Chromium, {failed} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
