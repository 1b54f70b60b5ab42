"""Serve MathJax from the built book itself, so every equation typesets without a network.

The MathJax 3.2.2 files come from a pinned wheel (``django-static-mathjax``, the ``book``
extra of pyproject.toml); ``_config.yml`` points ``mathjax_path`` at the copy this extension
puts under ``_static/mathjax`` when an HTML build finishes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mathjax

SOURCE = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
#: the TeX-to-HTML component and what it loads on demand (TeX extensions, fonts, the menu)
PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y")


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = SOURCE / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / part)


def setup(app):
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
