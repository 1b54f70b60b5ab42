"""Notebook hygiene and the book's table of contents (the policy: outputs are stripped)."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}
    for part in toc.get("parts", []):
        files |= {c["file"] for c in part["chapters"]}
    return files


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_hygiene(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    ids = [cell.get("id", "") for cell in nb["cells"]]
    if (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5):  # cell ids are required from nbformat 4.5 on
        assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids), f"{path.name}: a cell without a valid id"
        assert len(set(ids)) == len(ids), f"{path.name}: two cells share an id"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: commit notebooks with outputs stripped"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts must be cleared"


FIGURE_CALLS = re.compile(r"\b(plot_\w+|plt\.subplots|swap_explorer)\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_cell_has_alt_text(path):
    """Cells that draw carry alt text for the book (cell metadata mystnb.image.alt)."""
    for k, cell in enumerate(json.loads(path.read_text())["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and FIGURE_CALLS.search(src) and "import" not in src.split("\n")[0]:
            alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt) > 20, f"{path.name} cell {k} draws a figure without alt text"


def test_every_notebook_and_page_is_in_the_table_of_contents():
    toc = _toc_files()
    pages = [p for p in (ROOT / "book").glob("*.md")] + NOTEBOOKS
    missing = [str(p.relative_to(ROOT)) for p in pages if str(p.relative_to(ROOT).with_suffix("")) not in toc]
    assert not missing, f"not in _toc.yml: {missing}"
    for f in toc:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"_toc.yml names a missing file {f}"


def test_notebooks_are_numbered_in_order():
    numbers = [int(p.name.split("_")[0]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1))


CHAPTERS = NOTEBOOKS + [ROOT / "book" / "background.md"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_follows_the_template(path):
    """Objectives, then the body, then a summary and further reading, in that order."""
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    else:
        text = path.read_text()
    marks = [text.find(m) for m in ("**Objectives.**", "## Summary", "**Further reading.**")]
    assert all(m >= 0 for m in marks) and marks == sorted(marks), f"{path.name} does not follow the template"
