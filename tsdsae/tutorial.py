"""The notebooks' way to get a trained model: load the committed run, else train it (notebooks 02–05).

Like the UvA deep-learning notebooks, a chapter loads a checkpoint when one is
there and trains otherwise. Finished runs of the ``cpu`` preset made with
``tsdsae train`` are committed under ``artifacts/<preset>/<run name>/`` with their
provenance (``result.json``). In quick mode every model is trained afresh into a
temporary folder, in seconds, so the notebooks test the training code itself.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .config import Config, load_preset
from .data import MelodyAudioDataset, build_dataset
from .models import DSAE
from .training import load_or_train, run_name

#: Committed runs live here in a clone of the repository.
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

_QUICK_ROOT: Path | None = None


def tutorial_config(method: str, z_dim: int = 16, *, seed: int = 0, encoder: str = "factorised",
                    decoder: str = "framewise", preset: str = "cpu") -> Config:
    """The configuration of one tutorial model (quick mode applies through ``load_preset``)."""
    cfg = load_preset(preset)
    cfg.train.method, cfg.train.seed = method, seed
    cfg.model.z_dim, cfg.model.encoder, cfg.model.decoder = z_dim, encoder, decoder
    return cfg.validate()


def run_dir_for(cfg: Config) -> Path:
    """Where the run of ``cfg`` lives: ``artifacts/…`` normally, a temporary folder in quick mode."""
    global _QUICK_ROOT
    if cfg.quick:
        if _QUICK_ROOT is None:
            _QUICK_ROOT = Path(tempfile.mkdtemp(prefix="tsdsae-quick-runs-"))
        return _QUICK_ROOT / run_name(cfg)
    return ARTIFACTS / cfg.preset / run_name(cfg)


def tutorial_model(cfg: Config, dataset: MelodyAudioDataset | None = None,
                   progress: bool = True) -> tuple[DSAE, MelodyAudioDataset, Path]:
    """The trained model of ``cfg`` (loaded, or trained when absent), its data set and run folder."""
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    run_dir = run_dir_for(cfg)
    return load_or_train(cfg, run_dir, ds, progress=progress), ds, run_dir
