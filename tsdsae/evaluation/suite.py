"""Every metric of a trained run, written next to it (``tsdsae evaluate``; notebook 05).

:func:`evaluate_run` loads a run folder's best model and its data set and measures

- ``swap_f1``: instrument macro-F1 of v before and after the swaps (Fig. 3);
- ``regularisers``: R1–R4 (Eqs. 4–7) on the validation clips, for every method, also those
  trained without them (:func:`~tsdsae.evaluation.swap.regulariser_values`; notebook 04);
- ``global_factors`` (data sets with several global factors, e.g. instrument and octave):
  the swaps judged per factor, and the octave of the global swaps by pitch (Fig. 7);
- ``rpa``: raw pitch accuracy of the resynthesised decodings against CREPE on the
  resynthesised inputs, and against the score (Fig. 5);
- ``fad``: Fréchet Audio Distance between resynthesised reconstructions and inputs (Fig. 4),

then writes ``evaluation.json`` (atomically) into the folder; ``tsdsae evaluate`` and
``tsdsae sweep`` add ``figures/evaluation.png`` (:func:`tsdsae.plotting.save_evaluation_figure`).
``only`` (``tsdsae evaluate RUN --only regularisers``) measures some of these parts again and keeps
the others of an ``evaluation.json`` written with the same settings: seconds instead of minutes
when CREPE has nothing new to measure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import EvalConfig, FeatureConfig, content_hash
from ..data import MelodyAudioDataset, build_dataset
from ..device import seeded
from ..errors import TsdsaeError
from ..features import resynthesise
from ..io import atomic_path, write_json_atomic
from ..models import DSAE
from ..runs import load_model, run_folder
from .factors import factor_swap_f1, global_labels, octave_by_pitch
from .fad import CrepeEmbedding, frechet_distance, gaussian_stats
from .pitch import crepe_pitch, mean_rpa, score_pitch
from .swap import encode, partners, regulariser_values, swap_decode, swap_f1

#: The parts of an evaluation, in the order they are measured (``only`` picks some of them).
PARTS = ("swap_f1", "regularisers", "rpa", "fad")


def evaluate_run(run_dir: str | os.PathLike, eval_cfg: EvalConfig | None = None, *,
                 dataset: MelodyAudioDataset | None = None, progress: bool = True,
                 write: bool = True, only: Sequence[str] | None = None) -> dict[str, Any]:
    """All metrics of the run in ``run_dir`` under ``eval_cfg`` (default: the run's own); with
    ``only``, those parts (:data:`PARTS`) measured again and the rest kept from ``evaluation.json``."""
    run_dir = run_folder(run_dir)
    cfg, model = load_model(run_dir)
    ev = eval_cfg or cfg.eval
    ev.validate()
    parts = PARTS if only is None else _parts(only)
    out: dict[str, Any] = {"run": run_dir.name, "method": cfg.train.method, "z_dim": cfg.model.z_dim,
                           "seed": cfg.train.seed, "preset": cfg.preset, "quick": cfg.quick,
                           "eval": dataclasses.asdict(ev)}
    if only is not None:
        out = _kept(run_dir / "evaluation.json", out)
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    if ds.features.shape[-1] != cfg.model.x_dim:
        raise TsdsaeError(f"data has {ds.features.shape[-1]} features per frame, the model reads {cfg.model.x_dim}")
    started = time.perf_counter()
    steps = tqdm(total=len(parts), desc=f"evaluate {run_dir.name}", disable=not progress)
    if "swap_f1" in parts:
        out["swap_f1"] = swap_f1(model, ds, seed=ev.seed).as_dict()
        factors = global_labels(ds)
        if len(factors) > 1:  # e.g. instrument and octave: every factor judged on its own (notebook 06)
            out["global_factors"] = {"swap_f1": factor_swap_f1(model, ds, seed=ev.seed)}
            if "octave" in factors:
                out["global_factors"]["octave_by_pitch"] = octave_by_pitch(model, ds, ev, cfg.features,
                                                                           progress=progress)
        steps.update()
    if "regularisers" in parts:
        out["regularisers"] = regulariser_values(model, ds, seed=ev.seed)
        steps.update()
    if "rpa" in parts or "fad" in parts:
        sel = select_clips(ds, ev)
        ref = reference(ds, ev, progress=progress)
        for part, measure in (("rpa", _rpa), ("fad", _fad)):
            if part in parts:
                out[part] = measure(model, ds, ev, cfg.features, sel, ref, progress)
                steps.update()
    steps.close()
    seconds = round(time.perf_counter() - started, 1)
    if only is None:
        out["seconds"] = seconds
    else:  # what the kept parts took stays in "seconds"
        out["seconds_again"] = {**out.get("seconds_again", {}), **dict.fromkeys(parts, seconds)}
    if write:
        write_json_atomic(run_dir / "evaluation.json", out)
    return out


def _parts(only: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(only) - set(PARTS))
    if unknown or not only:
        found = f"unknown evaluation part(s) {unknown}" if unknown else "no evaluation part named"
        raise TsdsaeError(f"{found}: choose from {', '.join(PARTS)}")
    return tuple(p for p in PARTS if p in only)


def _kept(path: Path, out: dict[str, Any]) -> dict[str, Any]:
    """The evaluation at ``path`` updated with ``out``; it must have been written with the same settings."""
    if not path.is_file():
        raise TsdsaeError(f"no {path.name} in {path.parent} to keep the other parts of: evaluate every part first")
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise TsdsaeError(f"{path} is not valid JSON (cut short?): evaluate every part again") from None
    if old.get("eval") != out["eval"]:
        raise TsdsaeError(f"{path} was written with other evaluation settings: evaluate every part again")
    return old | out


def _rpa(model: DSAE, ds: MelodyAudioDataset, ev: EvalConfig, features: FeatureConfig, sel: dict[str, np.ndarray],
         ref: dict[str, np.ndarray], progress: bool) -> dict[str, Any]:
    """Raw pitch accuracy of the three decodings of the pitch pairs, against CREPE on the resynthesised
    inputs and (dMelodies) against the score."""
    i_idx, j_idx = sel["pitch_i"], sel["pitch_j"]
    with seeded(ev.seed):
        v, z = encode(model, np.concatenate([ds.features[i_idx], ds.features[j_idx]]))
    n = len(i_idx)  # the swaps pair i (first half) with its partner j (second half)
    decoded = swap_decode(model, v, z, np.arange(n, 2 * n), i=np.arange(n))
    f0 = {k: _pitch(resynthesise(f, features, n_iter=ev.griffin_lim_iters, seed=ev.seed), ev, progress)
          for k, f in decoded.items()}
    rpa = {
        "crepe_model": ev.crepe_model, "n_clips": n,
        "vs_resynthesised_input": {"pre": mean_rpa(ref["f0_i"], f0["pre"]),
                                   "post_global": mean_rpa(ref["f0_i"], f0["post_global"]),
                                   "post_local": mean_rpa(ref["f0_j"], f0["post_local"])},
    }
    if ds.has_score:
        rpa["vs_score"] = {
            "input": mean_rpa(ref["score_i"], ref["f0_i"]), "pre": mean_rpa(ref["score_i"], f0["pre"]),
            "post_global": mean_rpa(ref["score_i"], f0["post_global"]),
            "post_local": mean_rpa(ref["score_j"], f0["post_local"])}
    return rpa


def _fad(model: DSAE, ds: MelodyAudioDataset, ev: EvalConfig, features: FeatureConfig, sel: dict[str, np.ndarray],
         ref: dict[str, np.ndarray], progress: bool) -> dict[str, Any]:
    """FAD of the reconstructions of the FAD clips against the resynthesised inputs."""
    x = torch.as_tensor(np.asarray(ds.features[sel["fad"]]))
    with seeded(ev.seed), torch.no_grad():
        x_hat = model(x).x_hat
    embedding = CrepeEmbedding(ev.fad_model, ev.fad_hop_s, progress=progress)
    stats = gaussian_stats(embedding(resynthesise(x_hat, features, n_iter=ev.griffin_lim_iters, seed=ev.seed),
                                     features.sample_rate))
    return {"embedding": embedding.name, "n_clips": len(sel["fad"]),
            "reconstruction_vs_input": frechet_distance(ref["fad_mu"], ref["fad_cov"], *stats)}


def select_clips(ds: MelodyAudioDataset, ev: EvalConfig) -> dict[str, np.ndarray]:
    """The seeded validation subsets: pitch clips i, their partners j, and the FAD clips."""
    val = ds.split("val")
    rng = np.random.default_rng(ev.seed)
    sub = np.sort(rng.choice(len(val), size=min(ev.n_pitch_clips, len(val)), replace=False))
    fad = val[np.sort(rng.choice(len(val), size=min(ev.n_fad_clips, len(val)), replace=False))]
    return {"pitch_i": val[sub], "pitch_j": val[partners(ds.instrument[val], ev.seed)[sub]], "fad": fad}


def reference(ds: MelodyAudioDataset, ev: EvalConfig, *, progress: bool = False) -> dict[str, np.ndarray]:
    """What the metrics compare against, which no model changes: CREPE tracks of the resynthesised
    inputs, the score's pitches (dMelodies only), and the FAD statistics of the resynthesised inputs.

    Cached (atomically) in the dataset's folder, keyed by the evaluation settings, so a grid of
    runs on one data set computes it once.
    """
    cfg_features = FeatureConfig(**ds.manifest["features"]) if "features" in ds.manifest else FeatureConfig()
    sel = select_clips(ds, ev)
    key = content_hash(dataclasses.asdict(ev), cfg_features, *(sel[k].tolist() for k in sorted(sel)))
    path = Path(ds.path) / "evaluation-cache" / f"reference-{key}.npz"
    if path.is_file():
        with np.load(path) as f:
            return dict(f)
    feats = {k: torch.as_tensor(np.asarray(ds.features[sel[k]])) for k in sel}
    resyn = {k: resynthesise(f, cfg_features, n_iter=ev.griffin_lim_iters, seed=ev.seed) for k, f in feats.items()}
    f0_i, f0_j = (_pitch(resyn[k], ev, progress) for k in ("pitch_i", "pitch_j"))
    embedding = CrepeEmbedding(ev.fad_model, ev.fad_hop_s, progress=progress)
    mu, cov = gaussian_stats(embedding(resyn["fad"], cfg_features.sample_rate))
    ref = {"f0_i": f0_i, "f0_j": f0_j, "fad_mu": mu, "fad_cov": cov}
    if ds.has_score:
        tempo = ds.manifest.get("data", {}).get("tempo_bpm", 120.0)
        for name in ("i", "j"):
            ref[f"score_{name}"] = np.stack([score_pitch(ds.factors[k], f0_i.shape[1], tempo)
                                              for k in sel[f"pitch_{name}"]])
    path.parent.mkdir(exist_ok=True)
    with atomic_path(path) as tmp:
        np.savez(tmp, **ref)
    return ref


def _pitch(audio: torch.Tensor, ev: EvalConfig, progress: bool) -> np.ndarray:
    return crepe_pitch(audio, model=ev.crepe_model, fmin=ev.crepe_fmin, fmax=ev.crepe_fmax, progress=progress,
                       seed=ev.seed)
