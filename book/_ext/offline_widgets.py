"""Serve the Jupyter widgets' JavaScript from the built book itself, so the saved view of the swap
explorer (notebook 05) shows without a network.

``scripts/setup.sh`` fetches two pinned npm packages into ``<venv>/share/tsdsae/widgets``:
``@jupyter-widgets/html-manager`` 1.0.15 (its ``embed-amd.js`` renders a notebook's saved widget
state; it matches ipywidgets 8) and ``requirejs`` 2.3.8 (which loads it). This extension points
myst-nb at a copy under ``_static/widgets`` instead of its CDN default, and makes that copy when
an HTML build finishes. Without the files the build warns (an error under ``-W``) and keeps the CDN.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sphinx.util import logging

SOURCE = Path(sys.prefix) / "share" / "tsdsae" / "widgets"
FILES = ("require.js", "embed-amd.js")
logger = logging.getLogger(__name__)


def use_local_copy(app, config) -> None:
    if all((SOURCE / name).is_file() for name in FILES):
        config.nb_ipywidgets_js = {f"widgets/{name}": {} for name in FILES}
    else:
        logger.warning(f"offline_widgets: {SOURCE} lacks {' or '.join(FILES)}; widget views will load from a CDN "
                       "(run scripts/setup.sh)")


def copy_widgets(app, exception) -> None:
    if exception is not None or app.builder.format != "html" or not SOURCE.is_dir():
        return
    shutil.copytree(SOURCE, Path(app.outdir) / "_static" / "widgets", dirs_exist_ok=True)


def setup(app):
    app.connect("config-inited", use_local_copy)
    app.connect("build-finished", copy_widgets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
