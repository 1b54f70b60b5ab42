"""The training loop: batches, two stages, early stopping, checkpoints and resume (notebooks 02–04).

:func:`train` runs one configuration into a *run folder*::

    config.json     the full Config (data, features, model, training)
    metrics.jsonl   one JSON line per epoch: stage, train and validation terms, seconds
    last.pt         the state after the latest epoch (model, snapshot, optimiser, RNG, counters)
    best.pt         the model with the lowest validation loss of the final stage

Checkpoints are written atomically (temporary file, then rename), after every
epoch. A run killed at any point and started again with the same folder resumes
from ``last.pt`` and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Config, TrainConfig
from .data.dataset import MelodyAudioDataset, build_dataset
from .device import numeric_path, resolve_device
from .errors import TsdsaeError
from .io import folder_lock, write_json_atomic
from .methods import StagePlan, get_method, stage_plan
from .models import DSAE
from .models.dsae import GlobalEncoder
from .objectives import elbo_terms, swap_regularisers

CHECKPOINT_FORMAT = "tsdsae-checkpoint"
#: a measurement of the model during training: (model, dataset) -> a dict for metrics.jsonl
Tracker = Callable[[DSAE, MelodyAudioDataset], dict[str, Any]]
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


def set_trainable(model: DSAE, names: tuple[str, ...]) -> None:
    """Let exactly the modules ``names`` of ``model`` receive gradients."""
    for name, module in model.named_children():
        module.requires_grad_(name in names)


def take_snapshot(model: DSAE) -> GlobalEncoder:
    """A frozen copy of the global encoder: q_φC, the informed prior of stage 2."""
    snap = copy.deepcopy(model.global_encoder)
    snap.requires_grad_(False)
    return snap.eval()


def batch_loss(
    model: DSAE, x: torch.Tensor, plan: StagePlan, snapshot: GlobalEncoder | None, precision: str = "fp32"
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch under ``plan`` and its terms (rec, kl_z, kl_v, and r1–r4 if on).

    ``precision="bf16"`` runs the networks under bfloat16 autocast (``TrainConfig.precision``).
    """
    with numeric_path(x.device, precision):
        post = model(x, zero_z=plan.zero_z)
        v_prior = None
        if plan.informed_prior:
            if snapshot is None:
                raise TsdsaeError("the informed prior needs the stage-1 snapshot, which is missing")
            with torch.no_grad():
                v_prior = snapshot(x)
        terms = elbo_terms(post, x, v_prior)
        if plan.regularisers:
            b = x.shape[0]
            perm_global = torch.randperm(b, device=x.device)
            perm_local = torch.randperm(b, device=x.device)
            terms |= swap_regularisers(model, post, perm_global, perm_local)
    return sum(terms.values()), terms


def batch_order(n: int, epoch: int, cfg_train) -> np.ndarray:
    """Item order of one epoch: the authors' one fixed permutation, or a fresh one per epoch."""
    seed = cfg_train.batch_order_seed if not cfg_train.reshuffle else [cfg_train.batch_order_seed, epoch]
    return np.random.default_rng(seed).permutation(n)


@dataclass
class RunResult:
    """What a finished (or stopped) run reports."""

    run_dir: Path
    epochs: int
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    seconds: float


def train(
    cfg: Config,
    run_dir: str | os.PathLike,
    dataset: MelodyAudioDataset | None = None,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    track_every: int = 0,
    trackers: Mapping[str, Tracker] | None = None,
) -> RunResult:
    """Train ``cfg`` into ``run_dir``, resuming from its ``last.pt`` if there is one.

    ``dataset`` defaults to building (or loading from cache) ``cfg.data``.
    ``stop_after`` ends the call after that many epochs in total (the run can be
    resumed later), e.g. to split a long run across sessions.
    ``trackers`` measure the model every ``track_every`` epochs and at the last one;
    each ``name: tracker(model, dataset)`` adds its dict under ``name`` to that epoch's
    metrics line (e.g. the swap F1, :func:`tsdsae.evaluation.swap.track_swap_f1`). A tracker
    must leave the random streams alone (seeded evaluation does), so training is unchanged.
    """
    cfg.validate()
    if stop_after is not None and stop_after < 1:
        raise TsdsaeError(f"stop_after must be at least 1 epoch, got {stop_after}")
    if track_every < 0:
        raise TsdsaeError(f"track_every (--track-swap-every) must be 0 (off) or a positive number of epochs, "
                          f"got {track_every}")
    method = get_method(cfg.train.method)
    dev = resolve_device(device)
    run_dir = Path(run_dir)
    if (run_dir / "result.json").is_file() and not (run_dir / "last.pt").is_file():
        raise TsdsaeError(f"{run_dir} holds a finished run without its last.pt (a committed run): "
                          "load it with load_model, or train into another folder")
    _check_config(run_dir, cfg)  # before the data build: a wrong folder fails fast
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    x_train, x_val = (torch.from_numpy(np.ascontiguousarray(ds.features[ds.split(s)])).to(dev)
                      for s in ("train", "val"))
    _check_features(x_train, x_val, cfg.model.x_dim)
    run_dir.mkdir(parents=True, exist_ok=True)
    with folder_lock(run_dir, "trained"):  # a second process on the same folder gets a one-line error
        write_json_atomic(run_dir / "config.json", cfg.to_dict())  # only once the data are known to be usable
        model, opt, snapshot, state = _start_or_resume(cfg, run_dir, dev)
        end = cfg.train.max_epochs if stop_after is None else min(cfg.train.max_epochs, stop_after)
        bar = tqdm(range(state["epoch"], end), initial=state["epoch"], total=cfg.train.max_epochs,
                   desc=f"{method.label} z={cfg.model.z_dim}", unit="epoch", disable=not progress)
        for epoch in bar:
            if state["stopped_early"]:
                break
            t0 = time.perf_counter()
            plan = stage_plan(method, epoch, cfg.train)
            if plan.take_snapshot and snapshot is None:
                snapshot = take_snapshot(model)
            if plan.stage == 2 and epoch == cfg.train.stage1_epochs and method.stage1_trainable is not None:
                state["best_val"], state["bad_epochs"] = float("inf"), 0  # stages are different objectives
            train_terms = train_epoch(model, opt, x_train, plan, snapshot, cfg.train, epoch)
            val_terms = evaluate_loss(model, x_val, plan, snapshot, cfg.train.batch_size)
            val_loss = sum(val_terms.values())
            if not np.isfinite(val_loss):
                raise TsdsaeError(f"validation loss became {val_loss} at epoch {epoch}: training diverged")
            improved = val_loss < state["best_val"]
            if improved:
                state["best_val"], state["best_epoch"], state["bad_epochs"] = val_loss, epoch, 0
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch + 1
            state["seconds"] += time.perf_counter() - t0
            state["stopped_early"] = state["bad_epochs"] >= cfg.train.patience
            record = {"epoch": epoch, "stage": plan.stage, "train": train_terms, "val": val_terms,
                      "val_loss": val_loss, "best": improved, "seconds": round(time.perf_counter() - t0, 3)}
            if trackers and track_every > 0 and ((epoch + 1) % track_every == 0 or state["epoch"] == end
                                                 or state["stopped_early"]):
                record |= {name: tracker(model, ds) for name, tracker in trackers.items()}
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if improved:
                save_checkpoint(run_dir / "best.pt", cfg, model, snapshot, None, state)
            save_checkpoint(run_dir / "last.pt", cfg, model, snapshot, opt, state)
            bar.set_postfix(stage=plan.stage, rec=f"{val_terms['rec']:.3f}", val=f"{val_loss:.3f}")
        bar.close()
        result = RunResult(run_dir, state["epoch"], state["best_epoch"], state["best_val"],
                           state["stopped_early"], state["seconds"])
        if state["epoch"] >= cfg.train.max_epochs or state["stopped_early"]:
            write_json_atomic(run_dir / "result.json", _provenance(cfg, result, dev, state["git_commits"]))
    return result


def train_epoch(model: DSAE, opt: torch.optim.Optimizer, x: torch.Tensor, plan: StagePlan,
                snapshot: GlobalEncoder | None, cfg_train: TrainConfig, epoch: int) -> dict[str, float]:
    """One pass over the training clips ``x`` in the epoch's batch order: the mean of each loss term.

    The whole algorithm of one epoch (notebooks 02–04): the plan says which modules train and
    which terms count; each batch takes one Adam step on their sum.
    """
    set_trainable(model, plan.trainable)
    model.train()
    sums: dict[str, float] = {}
    order = torch.from_numpy(batch_order(len(x), epoch, cfg_train)).to(x.device)
    for idx in order.split(cfg_train.batch_size):
        loss, terms = batch_loss(model, x[idx], plan, snapshot, cfg_train.precision)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
    return {k: v / len(x) for k, v in sums.items()}


def _start_or_resume(cfg: Config, run_dir: Path, dev: torch.device
                     ) -> tuple[DSAE, torch.optim.Optimizer, GlobalEncoder | None, dict[str, Any]]:
    """The seeded model and optimiser of a fresh run, or everything ``last.pt`` holds (exact resume)."""
    torch.manual_seed(cfg.train.seed)
    model = DSAE(cfg.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas))
    state = {"epoch": 0, "best_val": float("inf"), "best_epoch": -1, "bad_epochs": 0,
             "stopped_early": False, "seconds": 0.0}
    snapshot: GlobalEncoder | None = None
    last = run_dir / "last.pt"
    if not last.exists():
        _truncate_metrics(run_dir / "metrics.jsonl", 0)  # a fresh start: no lines of an earlier attempt
    else:
        ck = load_checkpoint(last, map_location=dev)
        if training_identity(ck["config"]) != training_identity(cfg):
            raise TsdsaeError(f"{last} was written by another configuration than {run_dir / 'config.json'}: "
                              "delete the folder or train into another one")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if ck["snapshot"] is not None:
            snapshot = GlobalEncoder(cfg.model).to(dev)
            snapshot.load_state_dict(ck["snapshot"])
            snapshot.requires_grad_(False).eval()
        state = ck["state"]
        torch.set_rng_state(ck["rng"])
        if dev.type == "cuda" and ck.get("cuda_rng") is not None:  # the reparameterisation draws on the GPU
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        _truncate_metrics(run_dir / "metrics.jsonl", state["epoch"])
    commit = _git_commit()  # the code that trains from here on, recorded in result.json
    state.setdefault("git_commits", [])
    if not state["git_commits"] or state["git_commits"][-1] != commit:
        state["git_commits"].append(commit)
    return model, opt, snapshot, state


def load_or_train(cfg: Config, run_dir: str | os.PathLike, dataset: MelodyAudioDataset | None = None,
                  **kwargs: Any) -> DSAE:
    """The best model of a finished run in ``run_dir``; trains (or resumes) it first if needed.

    A run folder is finished when it holds ``result.json``; committed tutorial runs
    carry only config, metrics, best.pt and result.json, and load without training.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "result.json").is_file():
        train(cfg, run_dir, dataset, **kwargs)
    saved, model = load_model(run_dir)
    if training_identity(saved) != training_identity(cfg.validate()):
        raise TsdsaeError(f"{run_dir} holds a run with a different configuration")
    return model


def _git_commit() -> str | None:
    """The commit of the code that runs (None outside a git checkout)."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _provenance(cfg: Config, result: RunResult, dev: torch.device, commits: list[str | None]) -> dict[str, Any]:
    import platform

    from . import __version__

    return {
        "preset": cfg.preset, "quick": cfg.quick, "method": cfg.train.method, "z_dim": cfg.model.z_dim,
        "encoder": cfg.model.encoder, "decoder": cfg.model.decoder, "seed": cfg.train.seed,
        "epochs": result.epochs, "best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early, "train_seconds": round(result.seconds, 1),
        "device": str(dev), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "tsdsae": __version__, "git_commit": commits[0] if commits else None,
        # every commit that trained a part of the run (a run split by --stop-after may span several)
        "git_commits": commits,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }



@torch.no_grad()
def evaluate_loss(model: DSAE, x: torch.Tensor, plan: StagePlan, snapshot: GlobalEncoder | None,
                  batch_size: int = 128) -> dict[str, float]:
    """Mean loss terms of ``plan`` over ``x`` (sampled latents, as in training; float32 always)."""
    model.eval()
    sums: dict[str, float] = {}
    for xb in x.split(batch_size):
        _, terms = batch_loss(model, xb, plan, snapshot)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(xb)
    return {k: v / len(x) for k, v in sums.items()}


# --- checkpoints -----------------------------------------------------------------------

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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


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


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch records of a run folder."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise TsdsaeError(f"{run_dir} has no metrics.jsonl: not a tsdsae run folder")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check_config(run_dir: Path, cfg: Config) -> None:
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


def _check_features(x_train: torch.Tensor, x_val: torch.Tensor, x_dim: int) -> None:
    """One-line errors for data a run cannot train on: wrong width, an empty split, NaN or inf."""
    if x_train.shape[-1] != x_dim:
        raise TsdsaeError(f"data has {x_train.shape[-1]} features per frame but the model reads x_dim={x_dim}")
    for name, x in (("training", x_train), ("validation", x_val)):
        if len(x) == 0:
            raise TsdsaeError(f"the data set has no {name} clips: synthesise more melodies (at least 10)")
        if not torch.isfinite(x).all():
            raise TsdsaeError(f"the {name} features hold NaN or inf: rebuild the data set (tsdsae synth --rebuild)")


def _truncate_metrics(path: Path, epochs: int) -> None:
    """Drop metric lines of epochs the checkpoint does not contain (a kill between the two writes)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    keep = [ln for ln in lines[:epochs] if json.loads(ln)["epoch"] < epochs]
    if len(keep) != len(lines):
        tmp = path.with_name(f".metrics.tmp-{os.getpid()}")
        tmp.write_text("".join(ln + "\n" for ln in keep))
        os.replace(tmp, path)
