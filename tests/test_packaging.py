"""environment.yml and pyproject.toml must pin the same stack."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += extra
    return dict(r.split("==") for r in reqs)


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(r.split("==") for r in pip if "==" in r)


def test_every_dependency_is_pinned_exactly():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + sum(meta["optional-dependencies"].values(), [])
    assert all(r.count("==") == 1 for r in reqs), [r for r in reqs if "==" not in r]


def test_environment_yml_agrees_with_pyproject():
    assert _conda_pins() == _pyproject_pins()


def test_environment_yml_has_python_311_and_fluidsynth():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in plain and any(d.startswith("fluidsynth") for d in plain)
