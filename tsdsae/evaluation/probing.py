"""What do v and z know? Linear probes of the known factors (``tsdsae probe``; notebook 06).

dMelodies fixes every clip's factors: global ones (the instrument, and tonic,
octave or scale where they vary) and local ones (the rhythm of each bar, the
arpeggio direction of each chord). A *probe* is a linear classifier (standardised
inputs, L2-regularised multinomial logistic regression) fitted on the training
clips' posterior means and scored on the validation clips with balanced accuracy,
whose chance level is exactly 1/K for K classes.

v is one vector per clip. z is a sequence; it enters the probe pooled over the 16
eighth-note slots of the score (the mean of z over the frames of each slot), so a
probe can read *when* something happens, as rhythm needs. A disentangled model
puts the global factors in v and not in z, and the local factors in z and not in v.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..config import FeatureConfig
from ..data.dataset import MelodyAudioDataset, build_dataset
from ..data.melodies import N_BARS, SLOTS_PER_BAR
from ..device import seeded
from ..io import write_json_atomic
from ..models import DSAE
from ..runs import load_model, run_folder
from .factors import global_labels
from .swap import encode

#: The local factors of dMelodies that vary in every subset the tutorial uses.
LOCAL_FACTORS = ("rhythm_bar1", "rhythm_bar2", "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4")


def slot_pool(z: torch.Tensor | np.ndarray, features: FeatureConfig, tempo_bpm: float = 120.0) -> np.ndarray:
    """Mean of z (N, T, z_dim) over the frames of each eighth-note slot: (N, 16 · z_dim)."""
    z = np.asarray(z)
    slot_s = 60.0 / tempo_bpm / 2.0
    centres = np.arange(z.shape[1]) * features.hop_length / features.sample_rate
    slot = np.floor(centres / slot_s).astype(int)
    pooled = [z[:, slot == k].mean(axis=1) for k in range(N_BARS * SLOTS_PER_BAR) if (slot == k).any()]
    return np.concatenate(pooled, axis=1)


def probe_factors(ds: MelodyAudioDataset) -> dict[str, tuple[str, np.ndarray]]:
    """Every factor the probes judge: name -> (``"global"`` or ``"local"``, labels of every item)."""
    out: dict[str, tuple[str, np.ndarray]] = {f: ("global", y) for f, y in global_labels(ds).items()}
    for name in LOCAL_FACTORS if ds.has_score else ():
        y = ds.factor(name)
        if len(np.unique(y[ds.train])) > 1:
            out[name] = ("local", y)
    return out


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
                 c: float = 1.0, seed: int = 0) -> float:
    """Balanced accuracy on (x_val, y_val) of a logistic-regression probe fitted on the training pair."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    probe.fit(x_train, y_train)
    with warnings.catch_warnings():  # a small validation set may lack some of the 21 rhythms: that is fine
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return float(balanced_accuracy_score(y_val, probe.predict(x_val)))


def probe_model(model: DSAE, ds: MelodyAudioDataset, features: FeatureConfig, *, seed: int = 0,
                c: float = 1.0) -> dict[str, dict[str, Any]]:
    """Probe scores of v and of slot-pooled z for every factor of :func:`probe_factors`.

    Returns ``{factor: {"kind", "classes", "chance", "v", "z"}}`` (balanced accuracies).
    """
    with seeded(seed):
        latents = {split: encode(model, ds.features[ds.split(split)], sample_z=False) for split in ("train", "val")}
    tempo = ds.manifest.get("data", {}).get("tempo_bpm", 120.0)
    inputs = {split: {"v": v.numpy(), "z": slot_pool(z, features, tempo)} for split, (v, z) in latents.items()}
    out: dict[str, dict[str, Any]] = {}
    for name, (kind, y) in probe_factors(ds).items():
        y_train, y_val = y[ds.train], y[ds.val]
        k = len(np.unique(y_train))
        out[name] = {"kind": kind, "classes": k, "chance": 1.0 / k}
        for latent in ("v", "z"):
            out[name][latent] = linear_probe(inputs["train"][latent], y_train, inputs["val"][latent], y_val,
                                             c=c, seed=seed)
    return out


def probe_run(run_dir: str | os.PathLike, *, dataset: MelodyAudioDataset | None = None,
              write: bool = True) -> dict[str, Any]:
    """:func:`probe_model` on a run folder's best model; writes ``probing.json`` (atomically)."""
    run_dir = run_folder(run_dir)
    cfg, model = load_model(run_dir)
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=False)
    started = time.perf_counter()
    out = {"run": run_dir.name, "method": cfg.train.method, "z_dim": cfg.model.z_dim, "seed": cfg.train.seed,
           "preset": cfg.preset, "quick": cfg.quick,
           "probe": {"model": "standardised L2 logistic regression, C = 1", "score": "balanced accuracy",
                     "z_pooling": "mean over each eighth-note slot"},
           "factors": probe_model(model, ds, cfg.features, seed=cfg.eval.seed)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    if write:
        write_json_atomic(Path(run_dir) / "probing.json", out)
    return out
