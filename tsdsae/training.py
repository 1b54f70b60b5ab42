"""The training loop: batches, two stages, early stopping and resume (notebooks 02–04).

:func:`train` runs one configuration into a run folder (:mod:`tsdsae.runs` says what it
holds), after every epoch writing its metrics line and checkpoints atomically. A run killed
at any point and started again with the same folder resumes from ``last.pt`` and ends with
the same weights as an uninterrupted run. :func:`train_epoch` is the whole algorithm of one
epoch; :func:`batch_loss` the loss of one batch under a stage's plan.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Config, TrainConfig
from .data.dataset import MelodyAudioDataset, build_dataset
from .device import keep_freed_memory, machine_description, native_bf16, numeric_path, resolve_device
from .errors import TsdsaeError
from .io import folder_lock, write_json_atomic
from .methods import StagePlan, get_method, stage_plan
from .models import DSAE
from .models.dsae import GlobalEncoder
from .objectives import elbo_terms, swap_regularisers
from .runs import (
    append_metrics,
    check_config,
    git_commit,
    load_checkpoint,
    load_model,
    provenance,
    save_checkpoint,
    training_identity,
    truncate_metrics,
)

#: a measurement of the model during training: (model, dataset) -> a dict for metrics.jsonl
Tracker = Callable[[DSAE, MelodyAudioDataset], dict[str, Any]]


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
    cpu_seconds: float | None = None  # processor time of this process; None for a run begun before 2026-12-01

    def outcome(self) -> dict[str, Any]:
        """The fields ``result.json`` records: ``train_seconds`` is wall-clock time, which counts a
        paused process and waits for a busy core; ``train_cpu_seconds`` is the processor time the
        training took, over all its threads (its CPU cost)."""
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss,
                "stopped_early": self.stopped_early, "train_seconds": round(self.seconds, 1)} | (
            {} if self.cpu_seconds is None else {"train_cpu_seconds": round(self.cpu_seconds, 1)})


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
    run_dir, method, dev = Path(run_dir), get_method(cfg.validate().train.method), resolve_device(device)
    _check_request(run_dir, cfg, stop_after, track_every)
    if cfg.train.precision == "bf16" and native_bf16(dev) is False:
        warnings.warn(f"precision bf16 on a {dev.type} without native bfloat16 ({machine_description()}): it is "
                      "emulated, and a step can take 8-10x as long as in fp32; train with precision fp32", stacklevel=2)
    ds = dataset if dataset is not None else build_dataset(cfg.data, cfg.features, progress=progress)
    x_train, x_val = (torch.from_numpy(np.ascontiguousarray(ds.features[ds.split(s)])).to(dev)
                      for s in ("train", "val"))
    _check_features(x_train, x_val, cfg.model.x_dim)
    if dev.type == "cpu":
        keep_freed_memory()
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
            t0 = time.perf_counter(), time.process_time()
            plan = stage_plan(method, epoch, cfg.train)
            if plan.take_snapshot and snapshot is None:
                snapshot = take_snapshot(model)
            if plan.stage == 2 and epoch == cfg.train.stage1_epochs and method.stage1_trainable is not None:
                state["best_val"], state["bad_epochs"] = float("inf"), 0  # stages are different objectives
            train_terms = train_epoch(model, opt, x_train, plan, snapshot, cfg.train, epoch)
            val_terms = evaluate_loss(model, x_val, plan, snapshot, cfg.train.batch_size)
            record = _end_epoch(state, epoch, plan.stage, train_terms, val_terms, cfg.train.patience, t0)
            if trackers and track_every > 0 and ((epoch + 1) % track_every == 0 or state["epoch"] == end
                                                 or state["stopped_early"]):
                record |= {name: tracker(model, ds) for name, tracker in trackers.items()}
            append_metrics(run_dir, record)
            if record["best"]:
                save_checkpoint(run_dir / "best.pt", cfg, model, snapshot, None, state)
            save_checkpoint(run_dir / "last.pt", cfg, model, snapshot, opt, state)
            bar.set_postfix(stage=plan.stage, rec=f"{val_terms['rec']:.3f}", val=f"{record['val_loss']:.3f}")
        bar.close()
        result = RunResult(run_dir, state["epoch"], state["best_epoch"], state["best_val"],
                           state["stopped_early"], state["seconds"], state.get("cpu_seconds"))
        if state["epoch"] >= cfg.train.max_epochs or state["stopped_early"]:
            write_json_atomic(run_dir / "result.json", provenance(cfg, result.outcome(), dev, state["git_commits"]))
    return result


def _end_epoch(state: dict[str, Any], epoch: int, stage: int, train_terms: dict[str, float],
               val_terms: dict[str, float], patience: int, t0: tuple[float, float]) -> dict[str, Any]:
    """Early-stopping bookkeeping of a finished epoch in ``state``; the epoch's metrics record, with
    its wall-clock ``seconds`` and processor ``cpu_seconds`` since ``t0`` (both clocks)."""
    val_loss = sum(val_terms.values())
    if not np.isfinite(val_loss):
        raise TsdsaeError(f"validation loss became {val_loss} at epoch {epoch}: training diverged")
    improved = val_loss < state["best_val"]
    if improved:
        state["best_val"], state["best_epoch"], state["bad_epochs"] = val_loss, epoch, 0
    else:
        state["bad_epochs"] += 1
    seconds, cpu_seconds = time.perf_counter() - t0[0], time.process_time() - t0[1]
    state["epoch"] = epoch + 1
    state["seconds"] += seconds
    if "cpu_seconds" in state:  # not for a run begun before the field existed: its sum would be partial
        state["cpu_seconds"] += cpu_seconds
    state["stopped_early"] = state["bad_epochs"] >= patience
    return {"epoch": epoch, "stage": stage, "train": train_terms, "val": val_terms, "val_loss": val_loss,
            "best": improved, "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3)}


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
             "stopped_early": False, "seconds": 0.0, "cpu_seconds": 0.0}
    snapshot: GlobalEncoder | None = None
    last = run_dir / "last.pt"
    if not last.exists():
        truncate_metrics(run_dir / "metrics.jsonl", 0)  # a fresh start: no lines of an earlier attempt
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
        truncate_metrics(run_dir / "metrics.jsonl", state["epoch"])
    commit = git_commit()  # the code that trains from here on, recorded in result.json
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


def _check_request(run_dir: Path, cfg: Config, stop_after: int | None, track_every: int) -> None:
    """One-line errors for a call :func:`train` cannot honour, before any data are built."""
    if stop_after is not None and stop_after < 1:
        raise TsdsaeError(f"stop_after must be at least 1 epoch, got {stop_after}")
    if track_every < 0:
        raise TsdsaeError(f"track_every (--track-swap-every) must be 0 (off) or a positive number of epochs, "
                          f"got {track_every}")
    if (run_dir / "result.json").is_file() and not (run_dir / "last.pt").is_file():
        raise TsdsaeError(f"{run_dir} holds a finished run without its last.pt (a committed run): "
                          "load it with load_model, or train into another folder")
    check_config(run_dir, cfg)  # a wrong folder fails fast


def _check_features(x_train: torch.Tensor, x_val: torch.Tensor, x_dim: int) -> None:
    """One-line errors for data a run cannot train on: wrong width, an empty split, NaN or inf."""
    if x_train.shape[-1] != x_dim:
        raise TsdsaeError(f"data has {x_train.shape[-1]} features per frame but the model reads x_dim={x_dim}")
    for name, x in (("training", x_train), ("validation", x_val)):
        if len(x) == 0:
            raise TsdsaeError(f"the data set has no {name} clips: synthesise more melodies (at least 10)")
        if not torch.isfinite(x).all():
            raise TsdsaeError(f"the {name} features hold NaN or inf: rebuild the data set (tsdsae synth --rebuild)")
