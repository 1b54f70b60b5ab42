"""scripts/check_book.py in real headless Chromium: it catches what a reader would see broken."""

import importlib.util
import shutil
from pathlib import Path

import mathjax
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", ROOT / "scripts" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_book)

PAGE = """<html><head><script defer src="{mathjax}"></script></head><body>
<p>The loss <span class="math notranslate nohighlight">\\(\\mathrm{{KL}}(q \\,\\|\\, p)\\)</span> per element.</p>
{body}</body></html>"""


@pytest.fixture(scope="module")
def chromium():
    return check_book.find_chromium()


def _page(tmp_path, name, mathjax_src, body=""):
    page = tmp_path / name
    page.write_text(PAGE.format(mathjax=mathjax_src, body=body))
    return page


def test_equations_typeset_offline_only_from_a_local_mathjax(tmp_path, chromium):
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    local = tmp_path / "mathjax"
    local.mkdir()
    for part in ("tex-chtml.js", "input", "output", "ui", "a11y"):
        (shutil.copytree if (es5 / part).is_dir() else shutil.copy2)(es5 / part, local / part)
    good = _page(tmp_path, "good.html", "mathjax/tex-chtml.js")
    dom = check_book.rendered_dom(good, chromium)
    assert "mjx-container" in dom and check_book.problems(good, dom) == []
    cdn = _page(tmp_path, "cdn.html", "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js")
    assert any("untypeset equations" in p for p in check_book.problems(cdn, check_book.rendered_dom(cdn, chromium)))


def test_raw_markdown_tables_and_missing_media_are_caught(tmp_path, chromium):
    (tmp_path / "fig.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    body = ("<p>| method | F1 |\n|---|---|\n| DSAE | 0.29 |</p><p>and minimise $ \\mathcal{L}_2 = 1</p>"
            '<img src="fig.png"><img src="missing.png"><audio src="clip.wav"></audio>')
    page = _page(tmp_path, "page.html", "none.js", body)
    found = check_book.problems(page, check_book.rendered_dom(page, chromium))
    assert "a Markdown table rendered as a paragraph" in found
    assert any(p.startswith("untypeset equations") and "$" in p for p in found)
    assert "img source missing: missing.png" in found and "audio source missing: clip.wav" in found
    assert not any("fig.png" in p for p in found)


def test_a_saved_widget_view_renders_offline_only_from_the_local_widget_javascript(tmp_path, chromium):
    import json
    import sys

    import ipywidgets
    from ipywidgets.embed import embed_data

    widgets = Path(sys.prefix) / "share" / "tsdsae" / "widgets"  # fetched by scripts/setup.sh
    if not (widgets / "embed-amd.js").is_file():
        pytest.skip("the widget JavaScript is not installed: run scripts/setup.sh")
    shutil.copytree(widgets, tmp_path / "widgets")
    data = embed_data(views=[ipywidgets.Dropdown(options=["DSAE", "TS-DSAE"], description="model")])
    state = json.dumps(data["manager_state"])
    view = json.dumps(data["view_specs"][0])

    def page(name, scripts):
        body = "".join(f'<script src="{s}"></script>' for s in scripts) + (
            f'<script type="application/vnd.jupyter.widget-state+json">{state}</script>'
            f'<script type="application/vnd.jupyter.widget-view+json">{view}</script>')
        return _page(tmp_path, name, "none.js", body)

    good = page("good.html", ["widgets/require.js", "widgets/embed-amd.js"])
    assert "a saved widget view that did not render" not in check_book.problems(
        good, check_book.rendered_dom(good, chromium))
    cdn = page("cdn.html", ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js",
                            "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"])
    found = check_book.problems(cdn, check_book.rendered_dom(cdn, chromium))
    assert "a saved widget view that did not render" in found
    assert any(p.startswith("script from the network") for p in found)
