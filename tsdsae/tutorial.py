"""The notebooks' way to get a trained model: load the committed run, else train it (notebooks 02–07).

Like the UvA deep-learning notebooks, a chapter loads a checkpoint when one is
there and trains otherwise. The notebooks' models are points of the reproduction
grid (``results/cpu/sweep.yaml``, made with ``tsdsae sweep``), committed under
``results/<preset>/<run name>/`` with their provenance (``result.json``) and
evaluation (``evaluation.json``). In quick mode every model is trained afresh into
a temporary folder, in seconds, so the notebooks test the training code itself; on one
CPU thread, which is as fast for such small models and does not slow down many-fold when
another process (a sweep, say) keeps the machine busy.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from IPython.display import Code

from .config import Config, load_preset
from .data import MelodyAudioDataset, build_dataset
from .device import torch_threads
from .evaluation.suite import evaluate_run
from .evaluation.swap import track_swap_f1
from .models import DSAE
from .runs import run_config, run_name
from .training import load_or_train

#: Committed runs live here in a clone of the repository.
RESULTS = Path(__file__).resolve().parents[1] / "results"
#: The grid logs the swap F1 every this many epochs; tutorial runs do the same.
TRACK_SWAP_EVERY = 5

_QUICK_ROOT: Path | None = None
#: A folder for quick-mode runs shared by the notebooks of one session (set by scripts/test.sh).
QUICK_RUNS_ENV = "TSDSAE_QUICK_RUNS"


def tutorial_config(method: str, z_dim: int = 16, *, seed: int = 0, encoder: str = "factorised",
                    decoder: str = "framewise", preset: str = "cpu") -> Config:
    """The configuration of one tutorial model (quick mode applies through ``load_preset``)."""
    return load_preset(preset).override({"train": {"method": method, "seed": seed},
                                         "model": {"z_dim": z_dim, "encoder": encoder, "decoder": decoder}})


def run_dir_for(cfg: Config) -> Path:
    """Where the run of ``cfg`` lives: ``results/<preset>/<run name>``, in a temporary folder in quick mode.

    Runs on a prepared data set (e.g. the user's URMP) go to ``<preset>-<data name>``, kept out of git.
    """
    global _QUICK_ROOT
    group = f"{cfg.preset}-{cfg.data.name}" if cfg.data.path else cfg.preset
    if not cfg.quick:
        return RESULTS / group / run_name(cfg)
    if _QUICK_ROOT is None:  # $TSDSAE_QUICK_RUNS lets the notebooks of one test session share runs
        shared = os.environ.get(QUICK_RUNS_ENV)
        _QUICK_ROOT = Path(shared) if shared else Path(tempfile.mkdtemp(prefix="tsdsae-quick-runs-"))
    return _QUICK_ROOT / group / run_name(cfg)


def tutorial_model(cfg: Config, dataset: MelodyAudioDataset | None = None,
                   progress: bool = True) -> tuple[DSAE, MelodyAudioDataset, Path]:
    """The trained model of ``cfg`` (loaded, or trained when absent), its data set and run folder."""
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    run_dir = run_dir_for(cfg)
    with torch_threads(1 if cfg.quick else None):
        model = load_or_train(cfg, run_dir, ds, progress=progress, track_every=TRACK_SWAP_EVERY,
                              trackers={"swap_f1": track_swap_f1(cfg.eval.seed)})
    return model, ds, run_dir


def tutorial_evaluation(run_dir: Path, dataset: MelodyAudioDataset | None = None,
                        progress: bool = True) -> dict[str, Any]:
    """The run's ``evaluation.json`` when it is there for the run's own settings, else a fresh evaluation."""
    cfg = run_config(run_dir)
    path = run_dir / "evaluation.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("eval") == dataclasses.asdict(cfg.eval):
            return saved
    with torch_threads(1 if cfg.quick else None):
        return evaluate_run(run_dir, dataset=dataset, progress=progress)


def show_code(*objects: Any) -> Code:
    """The library's own source of ``objects`` (functions, classes, methods), highlighted for a
    notebook: the page shows the code that runs, so page and library cannot drift (notebooks 02–05)."""
    return Code("\n\n".join(inspect.getsource(o).rstrip() for o in objects), language="python")
