"""Reading a folder of finished runs into one table: the reproduction grid (notebook 05, README).

Each run folder written by ``tsdsae train``/``tsdsae sweep`` holds ``result.json``
(provenance) and, once evaluated, ``evaluation.json``; :func:`collect` joins them
into one record per run, the input of :func:`~tsdsae.plotting.plot_f1_grid`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import TsdsaeError
from .evaluation.swap import SWAP_KINDS
from .io import atomic_path
from .runs import read_metrics
from .tables import (
    cost_table,
    global_factor_table,
    paper_table,
    plateau_table,
    probing_table,
    quality_table,
    regulariser_grid_table,
    summary_table,
)


def collect(root: str | os.PathLike, *, evaluated_only: bool = True) -> list[dict[str, Any]]:
    """One record per finished run under ``root``: ``result.json`` merged with ``evaluation.json``.

    Each record also carries ``n_instruments`` and ``stage1_epochs`` (C) from ``config.json`` and,
    where the run was probed, ``probing`` (the factors of ``probing.json``).
    """
    root = Path(root)
    if not root.is_dir():
        raise TsdsaeError(f"results folder not found: {root}")
    rows = []
    for result in sorted(root.glob("*/result.json")):
        evaluation = result.with_name("evaluation.json")
        if evaluated_only and not evaluation.is_file():
            continue
        row = json.loads(result.read_text())
        if evaluation.is_file():
            row |= {k: v for k, v in json.loads(evaluation.read_text()).items() if k not in row}
        config = json.loads(result.with_name("config.json").read_text())
        row["n_instruments"] = len(config["data"]["instruments"])
        row["stage1_epochs"] = config["train"]["stage1_epochs"]
        probing = result.with_name("probing.json")
        if probing.is_file():
            row["probing"] = json.loads(probing.read_text())["factors"]
        row["run"] = result.parent.name
        rows.append(row)
    return rows


def run_curves(root: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """The per-epoch metrics of every finished run under ``root``, keyed by run folder name."""
    return {path.parent.name: read_metrics(path.parent) for path in sorted(Path(root).glob("*/result.json"))}


def save_grid_figures(root: str | os.PathLike, rows: Sequence[Mapping[str, Any]] | None = None,
                      curves: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> list[Path]:
    """Write the grid's Fig. 3 (``fig3_swap_f1.png``), Fig. 4 (``fig4_fad_f1.png``) and every run's
    validation reconstruction and swap F1 against epochs (``fig_curves.png``) into ``root``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plotting import plot_f1_grid, plot_fad_vs_f1, plot_training_curves, use_style

    root = Path(root)
    rows = collect(root) if rows is None else rows
    if not rows:
        raise TsdsaeError(f"no evaluated run under {root}: run 'tsdsae sweep' (with evaluate: true) first")
    use_style()
    paths = []
    curves = run_curves(root) if curves is None else curves
    for name, draw in (("fig3_swap_f1.png", lambda: plot_f1_grid(rows)),
                       ("fig4_fad_f1.png", lambda: plot_fad_vs_f1(rows)),
                       ("fig_curves.png", lambda: plot_training_curves(curves))):
        draw()
        fig = plt.gcf()
        with atomic_path(root / name) as tmp:
            fig.savefig(tmp)
        plt.close(fig)
        paths.append(root / name)
    return paths


def report(root: str | os.PathLike) -> str:
    """The grid under ``root`` in Markdown (F1 tables and cost), after writing its figures."""
    rows, curves = collect(root), run_curves(root)
    save_grid_figures(root, rows, curves)
    parts = [f"{len(rows)} evaluated runs.", ""]
    for key, name in SWAP_KINDS:
        parts += [f"**{name} F1** (mean ± sd over seeds)", "", summary_table(rows, key), ""]
    if rows[0]["n_instruments"] == 2 and not any(r.get("global_factors") for r in rows):
        parts += ["**beside the paper's Fig. 3** (its medians read by eye; ours: mean (range) over seeds)", "",
                  paper_table(rows), ""]
    parts += ["**pitch and sound** (RPA against CREPE on the resynthesised input; FAD with "
              f"{rows[0]['fad']['embedding']}; means over seeds)", "", quality_table(rows), ""]
    if any(r.get("regularisers") for r in rows):
        parts += ["**R1–R4 on validation** (Eqs. 4–7, as TS-DSAE's training computes them, also for the "
                  "methods trained without them; mean (range) over seeds; lower is better)", "",
                  regulariser_grid_table(rows), ""]
    if any(r.get("global_factors") for r in rows):
        parts += ["**global factors** (does each follow v? per run)", "", global_factor_table(rows), ""]
    if any(r.get("probing") for r in rows):
        parts += ["**linear probes** (balanced accuracy on validation; mean over seeds)", "", probing_table(rows), ""]
    parts += ["**how each run levels off** (validation reconstruction against epochs)", "",
              plateau_table(curves), ""]
    parts += ["**training cost**", "", cost_table(rows)]
    return "\n".join(parts)
