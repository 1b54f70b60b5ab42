"""Every metric of a trained run, written next to it (``tsdsae evaluate``; notebook 05).

:func:`evaluate_run` loads a run folder's best model and its data set and measures

- ``swap_f1``: instrument macro-F1 of v before and after the swaps (Fig. 3);
- ``rpa``: raw pitch accuracy of the resynthesised decodings against CREPE on the
  resynthesised inputs, and against the score (Fig. 5);
- ``fad``: Fréchet Audio Distance between resynthesised reconstructions and inputs (Fig. 4),

then writes ``evaluation.json`` (atomically) and ``figures/evaluation.png`` into the folder.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import EvalConfig
from ..data import MelodyAudioDataset, build_dataset
from ..errors import TsdsaeError
from ..features import resynthesise
from ..io import write_json_atomic
from ..training import load_model
from .fad import CrepeEmbedding, frechet_distance, gaussian_stats
from .pitch import crepe_pitch, mean_rpa, score_pitch
from .swap import encode, partners, swap_f1


def evaluate_run(run_dir: str | os.PathLike, eval_cfg: EvalConfig | None = None, *,
                 dataset: MelodyAudioDataset | None = None, progress: bool = True,
                 write: bool = True) -> dict[str, Any]:
    """All metrics of the run in ``run_dir`` under ``eval_cfg`` (default: the run's own)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TsdsaeError(f"run folder not found: {run_dir}")
    cfg, model = load_model(run_dir)
    ev = eval_cfg or cfg.eval
    ev.validate()
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    if ds.features.shape[-1] != cfg.model.x_dim:
        raise TsdsaeError(f"data has {ds.features.shape[-1]} features per frame, the model reads {cfg.model.x_dim}")
    started = time.perf_counter()
    steps = tqdm(total=4, desc=f"evaluate {run_dir.name}", disable=not progress)
    out: dict[str, Any] = {"run": run_dir.name, "method": cfg.train.method, "z_dim": cfg.model.z_dim,
                           "seed": cfg.train.seed, "preset": cfg.preset, "quick": cfg.quick,
                           "eval": dataclasses.asdict(ev)}
    out["swap_f1"] = swap_f1(model, ds, seed=ev.seed).as_dict()
    steps.update()

    val = ds.split("val")
    rng = np.random.default_rng(ev.seed)
    sub = np.sort(rng.choice(len(val), size=min(ev.n_pitch_clips, len(val)), replace=False))
    i_idx = val[sub]
    j_idx = val[partners(ds.instrument[val], ev.seed)[sub]]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ev.seed)
        v, z = encode(model, np.concatenate([ds.features[i_idx], ds.features[j_idx]]))
    n = len(i_idx)
    with torch.no_grad():  # the swaps pair i (first half) with its partner j (second half)
        sets = {"input_i": torch.as_tensor(np.asarray(ds.features[i_idx])),
                "input_j": torch.as_tensor(np.asarray(ds.features[j_idx])),
                "pre": model.decode(z[:n], v[:n]), "post_global": model.decode(z[:n], v[n:]),
                "post_local": model.decode(z[n:], v[:n])}
    resyn = {k: resynthesise(f, cfg.features, n_iter=ev.griffin_lim_iters, seed=ev.seed) for k, f in sets.items()}
    steps.update()
    f0 = {k: crepe_pitch(a, cfg.features.sample_rate, model=ev.crepe_model, progress=progress)
          for k, a in resyn.items()}
    frames = f0["input_i"].shape[1]
    score_i = np.stack([score_pitch(ds.factors[k], frames, cfg.data.tempo_bpm) for k in i_idx])
    score_j = np.stack([score_pitch(ds.factors[k], frames, cfg.data.tempo_bpm) for k in j_idx])
    out["rpa"] = {
        "crepe_model": ev.crepe_model, "n_clips": n,
        "vs_resynthesised_input": {"pre": mean_rpa(f0["input_i"], f0["pre"]),
                                   "post_global": mean_rpa(f0["input_i"], f0["post_global"]),
                                   "post_local": mean_rpa(f0["input_j"], f0["post_local"])},
        "vs_score": {"input": mean_rpa(score_i, f0["input_i"]), "pre": mean_rpa(score_i, f0["pre"]),
                     "post_global": mean_rpa(score_i, f0["post_global"]),
                     "post_local": mean_rpa(score_j, f0["post_local"])},
    }
    steps.update()

    fad_idx = val[np.sort(rng.choice(len(val), size=min(ev.n_fad_clips, len(val)), replace=False))]
    x = torch.as_tensor(np.asarray(ds.features[fad_idx]))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(ev.seed)
        post = model(x)
    embedding = CrepeEmbedding(ev.fad_model, progress=progress)
    stats = [gaussian_stats(embedding(resynthesise(f, cfg.features, n_iter=ev.griffin_lim_iters, seed=ev.seed),
                                      cfg.features.sample_rate)) for f in (x, post.x_hat)]
    out["fad"] = {"embedding": embedding.name, "n_clips": len(fad_idx),
                  "reconstruction_vs_input": frechet_distance(*stats[0], *stats[1])}
    steps.update()
    steps.close()
    out["seconds"] = round(time.perf_counter() - started, 1)
    if write:
        write_json_atomic(run_dir / "evaluation.json", out)
        _save_figure(run_dir, out)
    return out


def _save_figure(run_dir: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..plotting import plot_rpa, plot_swap_f1, use_style

    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    label = f"{result['method']} z={result['z_dim']}"
    plot_swap_f1({label: result["swap_f1"]}, ax=axes[0])
    plot_rpa({label: result["rpa"]}, ax=axes[1])
    fig.suptitle(f"{result['run']} — FAD ({result['fad']['embedding']}): "
                 f"{result['fad']['reconstruction_vs_input']:.2f}", fontsize=9)
    (run_dir / "figures").mkdir(exist_ok=True)
    tmp = run_dir / "figures" / f".evaluation.png.tmp-{os.getpid()}.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, run_dir / "figures" / "evaluation.png")
