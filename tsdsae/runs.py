"""Run folders: what a training run leaves on disk, and how to read it back (notebooks 02–05).

A *run folder* holds one configuration's training::

    config.json     the full Config (data, features, model, training)
    metrics.jsonl   one JSON line per epoch: stage, train and validation terms, seconds
    last.pt         the state after the latest epoch (model, snapshot, optimiser, RNG, counters)
    best.pt         the model with the lowest validation loss of the final stage
    result.json     written when training ends: epochs, best epoch, cost, machine, commits

Checkpoints are written atomically (temporary file, then rename). Committed tutorial runs
carry everything but ``last.pt``. :mod:`tsdsae.training` writes these folders;
evaluation, results and the notebooks read them through this module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import DECODERS, ENCODERS, METHODS, Config
from .device import machine_description
from .errors import TsdsaeError
from .io import atomic_path, write_text_atomic
from .methods import get_method
from .models import DSAE
from .models.dsae import GlobalEncoder

CHECKPOINT_FORMAT = "tsdsae-checkpoint"
CHECKPOINT_VERSION = 1


def training_identity(cfg: Config | dict[str, Any]) -> dict[str, Any]:
    """The parts of a configuration that decide what a run learns (data, features, model, training).

    Evaluation settings are left out: a finished run can be evaluated in many ways.
    """
    d = (cfg if isinstance(cfg, Config) else Config.from_dict(cfg)).to_dict()  # a saved file gains new defaults
    return json.loads(json.dumps({k: d.get(k) for k in ("data", "features", "model", "train")}))


def run_name(cfg: Config) -> str:
    """The conventional folder name of a run: method, z size, variants and seed."""
    return (f"{cfg.train.method}-z{cfg.model.z_dim}-{cfg.model.encoder}-{cfg.model.decoder}"
            f"-seed{cfg.train.seed}")


_RUN_NAME = re.compile(rf"({'|'.join(METHODS)})-z(\d+)-({'|'.join(ENCODERS)})-({'|'.join(DECODERS)})-seed(\d+)")


def parse_run_name(name: str) -> dict[str, Any] | None:
    """The inverse of :func:`run_name`: ``{"method", "z_dim", "encoder", "decoder", "seed"}`` of a
    conventional folder name (``"ts-dsae-z16-factorised-framewise-seed0"``), or None for another name."""
    match = _RUN_NAME.fullmatch(name)
    if match is None:
        return None
    method, z, encoder, decoder, seed = match.groups()
    return {"method": method, "z_dim": int(z), "encoder": encoder, "decoder": decoder, "seed": int(seed)}


def save_checkpoint(path: Path, cfg: Config, model: DSAE, snapshot: GlobalEncoder | None,
                    opt: torch.optim.Optimizer | None, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically: a temporary file in the same folder, then a rename."""
    payload = {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": cfg.to_dict(),
        "model": model.state_dict(), "snapshot": None if snapshot is None else snapshot.state_dict(),
        "optimizer": None if opt is None else opt.state_dict(), "state": dict(state),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a tsdsae checkpoint; a one-line error for a missing, truncated or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise TsdsaeError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for a cut or alien file
        raise TsdsaeError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise TsdsaeError(f"{path} is not a tsdsae checkpoint")
    if ck.get("version") != CHECKPOINT_VERSION:
        raise TsdsaeError(f"checkpoint {path} has version {ck.get('version')}, expected {CHECKPOINT_VERSION}")
    if "config" not in ck or "model" not in ck.get("config", {}):
        raise TsdsaeError(f"checkpoint {path} carries no model configuration")
    return ck


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[Config, DSAE]:
    """The configuration and model (eval mode) stored in a checkpoint or a run folder's best.pt."""
    path = Path(path)
    folder_cfg = None
    if path.is_dir():
        folder_cfg = run_config(path)
        path = path / "best.pt"
    ck = load_checkpoint(path, map_location)
    cfg = Config.from_dict(ck["config"])
    if folder_cfg is not None and training_identity(folder_cfg) != training_identity(cfg):
        raise TsdsaeError(f"{path} was written by another configuration than the folder's config.json")
    model = DSAE(cfg.model)
    model.load_state_dict(ck["model"])
    return cfg, model.eval()


def run_config(run_dir: str | os.PathLike) -> Config:
    """The configuration of a run folder (its ``config.json``), without loading a checkpoint."""
    return Config.from_dict(json.loads((run_folder(run_dir) / "config.json").read_text()))


def run_folder(run_dir: str | os.PathLike) -> Path:
    """``run_dir`` as a Path; a one-line error when it is missing or holds no run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise TsdsaeError(f"run folder not found: {run_dir}")
    if not (run_dir / "config.json").is_file():
        raise TsdsaeError(f"{run_dir} is not a tsdsae run folder (no config.json)")
    return run_dir


def read_metrics(run_dir: str | os.PathLike, *, in_progress: bool = False) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder. ``in_progress``: a run may be training, so a missing
    file means no epoch yet and a half-written last line is left out (``tsdsae sweep --status``)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        if in_progress:
            return []
        raise TsdsaeError(f"{run_dir} has no metrics.jsonl: not a tsdsae run folder")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    out = []
    for i, line in enumerate(lines):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if not (in_progress and i == len(lines) - 1):
                raise TsdsaeError(f"{path}: line {i + 1} is not JSON: the file is damaged") from None
    return out


def swap_track(metrics: Sequence[Mapping[str, Any]], kind: str = "post_global",
               after: int = 0) -> list[tuple[int, float]]:
    """``(epoch, F1)`` of every swap test tracked during training (``--track-swap-every``), epochs
    counted from 1, keeping those after epoch ``after`` (e.g. C: stage 2 only). Notebooks 02–04."""
    return [(m["epoch"] + 1, m["swap_f1"][kind]) for m in metrics if "swap_f1" in m and m["epoch"] + 1 > after]


def describe_run(run_dir: str | os.PathLike) -> str:
    """One line on how a finished run was produced: epochs (and C), best epoch, training time,
    machine, threads and commit, from its ``result.json`` (notebooks 02–06)."""
    run_dir = run_folder(run_dir)
    if not (run_dir / "result.json").is_file():
        raise TsdsaeError(f"{run_dir} holds no finished run (no result.json): train it first")
    r = json.loads((run_dir / "result.json").read_text())
    cfg = run_config(run_dir)
    two_stage = get_method(cfg.train.method).stage1_trainable is not None
    return (f"{run_dir.name}: {r['epochs']} epochs"
            + (f" (stage 1: C = {cfg.train.stage1_epochs})" if two_stage else "")
            + f", lowest validation loss after epoch {r['best_epoch'] + 1}, {r['train_seconds'] / 60:.1f} min of "
            + (f"training ({r['train_cpu_seconds'] / 60:.1f} min of processor time)" if "train_cpu_seconds" in r
               else "training")
            + f" on {r['machine']} ({r['torch_threads']} thread(s)), commit {str(r['git_commit'])[:8]}"
            + (" — quick mode" if r.get("quick") else ""))


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Add one epoch's record to ``metrics.jsonl`` (:func:`truncate_metrics` mends a cut line on resume)."""
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_metrics(path: Path, epochs: int) -> None:
    """Drop metric lines of epochs the checkpoint does not contain (a kill between the two writes)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    keep = [ln for ln in lines[:epochs] if json.loads(ln)["epoch"] < epochs]
    if len(keep) != len(lines):
        write_text_atomic(path, "".join(ln + "\n" for ln in keep))


def check_config(run_dir: Path, cfg: Config) -> None:
    """Refuse a folder that holds training of another configuration; a folder with a config.json
    and nothing trained (a failed start) is free to take the new one."""
    path = run_dir / "config.json"
    trained = (run_dir / "last.pt").is_file() or (run_dir / "result.json").is_file()
    if path.exists() and trained:
        try:
            saved = training_identity(json.loads(path.read_text()))
        except (json.JSONDecodeError, TsdsaeError):
            raise TsdsaeError(f"{path} is damaged: delete the folder or train into another one") from None
        if saved != training_identity(cfg):
            raise TsdsaeError(f"{run_dir} holds a run with a different configuration: use another folder")


def git_commit() -> str | None:
    """The commit of the code that runs (None outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(cfg: Config, result: dict[str, Any], dev: torch.device, commits: list[str | None]) -> dict[str, Any]:
    """What ``result.json`` records: the run's identity, its outcome (``result``), cost, machine and code."""
    return {
        "preset": cfg.preset, "quick": cfg.quick, "method": cfg.train.method, "z_dim": cfg.model.z_dim,
        "encoder": cfg.model.encoder, "decoder": cfg.model.decoder, "seed": cfg.train.seed, **result,
        "device": str(dev), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "tsdsae": __version__, "git_commit": commits[0] if commits else None,
        # every commit that trained a part of the run (a run split by --stop-after may span several)
        "git_commits": commits,
        "machine": machine_description(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
