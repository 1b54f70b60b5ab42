"""A grid of training runs, on local processes or a Ray cluster (``tsdsae sweep``; notebook 05).

A sweep file (YAML) names a preset and the grid to span::

    preset: cpu
    methods: [dsae, dsae-f, ts-dsae-noreg, ts-dsae]
    z_dims: [8, 16, 32]
    seeds: [0, 1, 2]
    out: results/cpu            # one run folder per point: <out>/<method>-z<z>-…-seed<s>
    track_swap_every: 5         # swap F1 in metrics.jsonl every 5 epochs (0: off)
    evaluate: true              # evaluation suite and probes on every finished run
    overrides:                  # optional: any Config field, e.g. {train: {max_epochs: 80}}
      model: {encoder: factorised}

Every run is independent and resumable: a finished run (``result.json`` and, if
asked, ``evaluation.json`` and ``probing.json``) is skipped, an unfinished one resumes from its
``last.pt``. The local executor runs one process per core with one thread each
(small models train faster side by side than one at a time on several threads; ``--threads N``
gives each run N threads and runs cores / N of them, for a few big runs such as full q);
``--executor ray --address HOST:PORT`` sends the same jobs to a Ray cluster. ``--only PATTERN``
runs the points whose run names match (shell-style, e.g. ``'ts-dsae-z16-*'``), so a long run can
start before the grid reaches it; a run that another process is training or evaluating is
skipped, so several sweeps of one file share its runs without stepping on each other.
:func:`sweep_status` (``tsdsae sweep FILE --status``) says where each run stands and how much
training is left, from the run folders alone.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from .config import METHODS, Config, load_preset
from .data import build_dataset
from .device import machine_description, torch_threads
from .errors import FolderBusyError, TsdsaeError
from .evaluation.probing import probe_run
from .evaluation.suite import evaluate_run
from .evaluation.swap import track_swap_f1
from .io import die_with_parent, folder_lock, lock_holder
from .methods import get_method, stage_plan
from .plotting import save_evaluation_figure
from .runs import read_metrics, run_name
from .training import train

EXECUTORS = ("local", "ray")
_KEYS = {"preset", "quick", "methods", "z_dims", "seeds", "out", "track_swap_every", "evaluate", "overrides",
         "cache_dir"}


@dataclass
class Sweep:
    """A grid of runs: every method × z size × seed of one preset (plus overrides)."""

    preset: str = "cpu"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    z_dims: list[int] = field(default_factory=lambda: [8, 16, 32])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    out: str = "results/cpu"
    track_swap_every: int = 0
    evaluate: bool = True
    quick: bool | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: dataset cache root of every worker (default: $TSDSAE_CACHE or ~/.cache/tsdsae on each machine)
    cache_dir: str | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Sweep:
        """Read a sweep file; a one-line error for a missing file or an unknown key."""
        path = Path(path)
        if not path.is_file():
            raise TsdsaeError(f"sweep file not found: {path}")
        try:
            d = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise TsdsaeError(f"sweep file {path} is not valid YAML ({type(e).__name__})") from None
        if not isinstance(d, dict):
            raise TsdsaeError(f"sweep file {path} must hold a mapping of settings")
        unknown = set(d) - _KEYS
        if unknown:
            raise TsdsaeError(f"sweep file {path}: unknown key(s) {', '.join(sorted(unknown))}")
        for key in ("methods", "z_dims", "seeds"):
            if key in d and not isinstance(d[key], list):
                raise TsdsaeError(f"sweep file {path}: {key} must be a list, e.g. {key}: [{d[key]}]")
        sweep = cls(**d)
        # paths are relative to the sweep file, as a user reads it
        sweep.out = str((path.parent / sweep.out).resolve())
        if sweep.cache_dir is not None:
            sweep.cache_dir = str((path.parent / sweep.cache_dir).resolve())
        return sweep

    @property
    def n_runs(self) -> int:
        """How many runs the grid holds: methods × z sizes × seeds (notebook 08 counts what landed)."""
        return len(self.methods) * len(self.z_dims) * len(self.seeds)

    def configs(self) -> Iterator[tuple[Config, Path]]:
        """Every point of the grid, its validated Config and its run folder, in the order they run:
        by z size (as listed), then seed, then method, so the first z size is complete first."""
        if not (self.methods and self.z_dims and self.seeds):
            raise TsdsaeError("sweep: methods, z_dims and seeds must each name at least one value")
        for z_dim, seed, method in itertools.product(self.z_dims, self.seeds, self.methods):
            cfg = load_preset(self.preset, quick=self.quick).override(self.overrides).override(
                {"train": {"method": method, "seed": seed}, "model": {"z_dim": z_dim}})
            yield cfg, Path(self.out) / run_name(cfg)


#: What a finished, evaluated run folder holds besides ``result.json``.
EVALUATION_FILES = ("evaluation.json", "probing.json")


def run_is_done(run_dir: Path, evaluate: bool) -> bool:
    """Whether a run folder holds a finished run (and its evaluation and probes, if asked for)."""
    return (run_dir / "result.json").is_file() and (
        not evaluate or all((run_dir / name).is_file() for name in EVALUATION_FILES))


#: The states of :func:`sweep_status`, as it reports them: from finished back to not started.
STATES = {
    "done": "finished (and evaluated and probed, if the sweep evaluates)",
    "trained": "finished; its evaluation or probes are still to run",
    "training": "a living process on this machine holds the folder",
    "stopped": "stopped; resumes exactly from last.pt",
    "lost": "epochs recorded but no last.pt: training restarts from epoch 0",
    "waiting": "not started",
}


def sweep_status(sweep: Sweep) -> list[dict[str, Any]]:
    """Where every point of ``sweep`` stands, read from its run folder (nothing is trained or loaded).

    One dict per run, in the order the sweep runs them: ``run``, ``state`` (a key of
    :data:`STATES`), ``epochs`` done of ``max_epochs``, the last validation reconstruction
    ``val_rec``, the last tracked post-global swap F1 ``post_global``, ``train_seconds`` so far
    (wall-clock) and ``left_seconds``: the training still to go, estimated from the sweep's own
    median processor time per epoch (wall-clock for epochs recorded before 2026-12-01) per method
    and stage (stage 1 pooled over the two-stage methods; ``None`` while one of its stages is
    untimed; early stopping can only shorten it). Epoch times of runs trained on this machine
    (:func:`tsdsae.device.machine_description`) or training on it now are used where a method and
    stage has any, since another CPU's can differ several-fold. A line being written is skipped.
    """
    points = list(sweep.configs())
    metrics = {d: read_metrics(d, in_progress=True) for _, d in points}
    states = {d: _state(d, metrics[d], sweep.evaluate) for _, d in points}
    here = machine_description()
    per_epoch: dict[tuple[bool, str], list[float]] = {}
    for cfg, d in points:
        on_this_machine = states[d] == "training" or _trained_on(d) == here
        for m in metrics[d]:
            key = _timing_key(cfg.train.method, m["stage"])
            per_epoch.setdefault((on_this_machine, key), []).append(m.get("cpu_seconds", m["seconds"]))
    median = {key: float(np.median(per_epoch.get((True, key), per_epoch.get((False, key)))))
              for _, key in per_epoch}
    rows = []
    for cfg, d in points:
        ms, state = metrics[d], states[d]
        done = 0 if state in ("waiting", "lost") else len(ms)
        if state in ("trained", "done"):
            left: float | None = 0.0
        else:
            method = get_method(cfg.train.method)
            keys = [_timing_key(cfg.train.method, stage_plan(method, e, cfg.train).stage)
                    for e in range(done, cfg.train.max_epochs)]
            left = sum(median[k] for k in keys) if set(keys) <= set(median) else None
        tracked = [m["swap_f1"]["post_global"] for m in ms if "swap_f1" in m]
        rows.append({"run": d.name, "state": state, "epochs": len(ms), "max_epochs": cfg.train.max_epochs,
                     "val_rec": ms[-1]["val"]["rec"] if ms else None,
                     "post_global": tracked[-1] if tracked else None,
                     "train_seconds": sum(m["seconds"] for m in ms), "left_seconds": left})
    return rows


def _timing_key(method: str, stage: int) -> str:
    """Epochs that cost the same: stage 1 is one computation for every two-stage method."""
    return "stage 1" if stage == 1 and get_method(method).stage1_trainable is not None else f"{method}, stage {stage}"


def _trained_on(run_dir: Path) -> str | None:
    """The machine a finished run's ``result.json`` records, else ``None``."""
    path = run_dir / "result.json"
    return json.loads(path.read_text()).get("machine") if path.is_file() else None


def _state(run_dir: Path, metrics: list[dict[str, Any]], evaluate: bool) -> str:
    """The key of :data:`STATES` that describes ``run_dir``."""
    if (run_dir / "result.json").is_file():
        return "done" if run_is_done(run_dir, evaluate) else "trained"
    if not metrics:
        return "waiting"
    if lock_holder(run_dir) is not None:
        return "training"
    return "stopped" if (run_dir / "last.pt").is_file() else "lost"


def run_job(cfg_dict: dict[str, Any], run_dir: str, track_swap_every: int, evaluate: bool,
            cache_dir: str | None = None, threads: int = 1) -> dict[str, Any]:
    """Train (or resume) one run and evaluate it: the unit of work of every executor. A run that
    another living process holds (training or evaluating it) is left to it: ``{"run_dir", "busy"}``."""
    run = Path(run_dir)
    with torch_threads(threads):
        cfg = Config.from_dict(cfg_dict)
        started = time.perf_counter()
        ds = build_dataset(cfg.data, cfg.features, cache_dir=cache_dir, workers=1, progress=False)
        out: dict[str, Any] = {"run_dir": run_dir}
        try:
            if not (run / "result.json").is_file():  # committed runs keep no last.pt: never retrain them
                res = train(cfg, run_dir, ds, progress=False, track_every=track_swap_every,
                            trackers={"swap_f1": track_swap_f1(cfg.eval.seed)})
                out |= {k: v for k, v in res.outcome().items()
                        if k in ("epochs", "train_seconds", "train_cpu_seconds")}
            if evaluate and not run_is_done(run, evaluate):
                with folder_lock(run, "evaluated"):
                    if not (run / "evaluation.json").is_file():
                        result = evaluate_run(run_dir, dataset=ds, progress=False)
                        save_evaluation_figure(run_dir, result)
                        out["swap_f1"] = result["swap_f1"]
                    if not (run / "probing.json").is_file():
                        probe_run(run_dir, dataset=ds)
        except FolderBusyError as e:
            return {"run_dir": run_dir, "busy": str(e)}
        out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def select(points: list[tuple[Config, Path]], only: list[str] | None) -> list[tuple[Config, Path]]:
    """The points whose run names match any of the shell-style patterns ``only`` (all when None);
    a one-line error for a pattern that matches none of them."""
    if only is None:
        return points
    for pattern in only:
        if not any(fnmatch.fnmatchcase(d.name, pattern) for _, d in points):
            raise TsdsaeError(f"--only {pattern!r} matches no run of this sweep; its runs are named like "
                              f"{points[0][1].name}")
    return [(c, d) for c, d in points if any(fnmatch.fnmatchcase(d.name, p) for p in only)]


def run_sweep(sweep: Sweep, *, executor: str = "local", workers: int | None = None,
              address: str | None = None, progress: bool = True, only: list[str] | None = None,
              threads: int = 1) -> list[dict[str, Any]]:
    """Run every unfinished point of ``sweep`` (of those whose names match ``only``: :func:`select`)
    with ``threads`` torch threads each; return one summary per run that was run, ``busy`` for one
    that another process held."""
    if executor not in EXECUTORS:
        raise TsdsaeError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if threads < 1:
        raise TsdsaeError(f"--threads must be at least 1, got {threads}")
    points = select(list(sweep.configs()), only)
    todo = [(cfg, d) for cfg, d in points if not run_is_done(d, sweep.evaluate)]
    for cfg in {repr((c.data, c.features)): c for c, _ in todo}.values():  # each cache once, up front
        build_dataset(cfg.data, cfg.features, cache_dir=sweep.cache_dir, progress=progress)
    jobs = [(cfg.to_dict(), str(d), sweep.track_swap_every, sweep.evaluate, sweep.cache_dir, threads)
            for cfg, d in todo]
    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc="sweep", unit="run", disable=not progress)
    results: list[dict[str, Any]] = []
    if executor == "local":
        n = workers or max(1, (os.cpu_count() or 1) // threads)
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            for fut in as_completed([pool.submit(run_job, *job) for job in jobs]):
                results.append(fut.result())
                count_on_bar(bar, results[-1])
    else:
        results = _run_ray(jobs, address, bar, threads)
    bar.close()
    return results


def count_on_bar(bar: tqdm, result: dict[str, Any]) -> None:
    """Count a run that :func:`run_job` finished on the sweep's bar; one it left to another process
    (``busy``) leaves the bar's total instead of counting as done."""
    if "busy" in result:
        bar.total -= 1
        bar.refresh()
    else:
        bar.update()


def _run_ray(jobs: list[tuple], address: str | None, bar: tqdm, threads: int) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise TsdsaeError("the ray executor needs Ray: pip install 'tsdsae[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=threads, max_retries=2)(run_job)
        pending = [remote.remote(*job) for job in jobs]
        results = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for result in ray.get(done):
                results.append(result)
                count_on_bar(bar, result)
        return results
    finally:
        if started_here:
            ray.shutdown()
