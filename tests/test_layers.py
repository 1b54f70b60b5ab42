"""The library's layers point one way: a module imports only from its own layer or the ones below.

    0  errors, io, config, device                 what everything shares
    1  features, crepe, models, melodies, render  the building blocks
    2  data (datasets, URMP)                      cached audio and features
    3  objectives, methods, runs                  the maths of the four methods; run folders on disk
    4  training                                   the loop
    5  evaluation                                 metrics of trained models
    6  results, tables, plotting, listening,      tables, figures, players
       explorer
    7  cli, tutorial, sweep                       entry points

Every import counts, also those inside functions.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tsdsae"
LAYERS = [
    {"tsdsae", "tsdsae.errors", "tsdsae.io", "tsdsae.config", "tsdsae.device", "tsdsae.paper"},
    {"tsdsae.features", "tsdsae.crepe", "tsdsae.models", "tsdsae.models.layers", "tsdsae.models.dsae",
     "tsdsae.data.melodies", "tsdsae.data.render"},
    {"tsdsae.data", "tsdsae.data.dataset", "tsdsae.data.urmp"},
    {"tsdsae.objectives", "tsdsae.methods", "tsdsae.runs"},
    {"tsdsae.training"},
    {"tsdsae.evaluation", "tsdsae.evaluation.swap", "tsdsae.evaluation.pitch", "tsdsae.evaluation.fad",
     "tsdsae.evaluation.factors", "tsdsae.evaluation.probing", "tsdsae.evaluation.suite"},
    {"tsdsae.results", "tsdsae.tables", "tsdsae.plotting", "tsdsae.listening", "tsdsae.explorer"},
    {"tsdsae.cli", "tsdsae.tutorial", "tsdsae.sweep"},
]
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str | None = None) -> set[str]:
    """The tsdsae modules ``path`` (or ``source`` as if it were that file) imports, relative imports resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tsdsae"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "tsdsae":
                continue
            # "from .models import DSAE" imports tsdsae.models; "from . import features" a submodule
            subs = {f"{target}.{a.name}" for a in node.names} & set(LAYER)
            found |= subs or {target}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert sorted({_module_name(p) for p in MODULES} - set(LAYER)) == []


def _upward(path: Path, source: str | None = None) -> list[str]:
    name = _module_name(path)
    return sorted(t for t in _imports(path, source) if LAYER.get(t, LAYER.get(t.rsplit(".", 1)[0], -1)) > LAYER[name])


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_no_module_imports_from_a_layer_above_its_own(path):
    upward = _upward(path)
    assert not upward, f"{_module_name(path)} (layer {LAYER[_module_name(path)]}) imports from above: {upward}"


def test_the_check_finds_upward_imports_inside_functions():
    """The test can fail: what training.py and data/urmp.py once held is caught."""
    training, urmp = PACKAGE / "training.py", PACKAGE / "data" / "urmp.py"
    assert _upward(training, "from .evaluation.swap import swap_f1\n") == ["tsdsae.evaluation.swap"]
    assert _upward(urmp, "def f():\n    from ..evaluation.pitch import crepe_tracks\n") == ["tsdsae.evaluation.pitch"]
    assert _upward(urmp, "from ..features import log_mel\nfrom .. import __version__\n") == []


def test_the_readme_layout_table_names_every_module_and_only_existing_ones():
    readme = (PACKAGE.parent / "README.md").read_text()
    named = {cell.strip(" `") for line in readme.splitlines() if line.startswith("| `tsdsae/")
             for cell in line.split("|")[1].split(",")}
    files = {f"tsdsae/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    missing = {f for f in files if f not in named and f.rsplit("/", 1)[0] + "/" not in named}
    assert not missing, f"README's layout table misses {sorted(missing)}"
    stale = {n for n in named if not (PACKAGE.parent / n).exists()}
    assert not stale, f"README's layout table names what does not exist: {sorted(stale)}"
