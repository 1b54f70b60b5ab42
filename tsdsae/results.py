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

import numpy as np

from .errors import TsdsaeError
from .methods import METHOD_LABELS


def collect(root: str | os.PathLike, *, evaluated_only: bool = True) -> list[dict[str, Any]]:
    """One record per finished run under ``root``: ``result.json`` merged with ``evaluation.json``.

    Each record also carries ``n_instruments`` (from ``config.json``) and, where the run was
    probed, ``probing`` (the factors of ``probing.json``).
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
        row["n_instruments"] = len(json.loads(result.with_name("config.json").read_text())["data"]["instruments"])
        probing = result.with_name("probing.json")
        if probing.is_file():
            row["probing"] = json.loads(probing.read_text())["factors"]
        row["run"] = result.parent.name
        rows.append(row)
    return rows


def summary_table(rows: Sequence[Mapping[str, Any]], metric: str = "post_global") -> str:
    """A Markdown table of swap F1 ``metric``: mean ± sd (n seeds) per method and z."""
    zs = sorted({r["z_dim"] for r in rows})
    lines = ["| method | " + " | ".join(f"z = {z}" for z in zs) + " |", "|---" * (len(zs) + 1) + "|"]
    for method, label in METHOD_LABELS.items():
        cells = []
        for z in zs:
            vals = [r["swap_f1"][metric] for r in rows if r["method"] == method and r["z_dim"] == z]
            cells.append(f"{np.mean(vals):.2f} ± {np.std(vals):.2f} (n={len(vals)})" if vals else "—")
        if any(c != "—" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of training cost per method and z: epochs and mean wall seconds per run."""
    lines = ["| method | z | runs | epochs | train minutes per run (mean) |", "|---|---|---|---|---|"]
    for method, label in METHOD_LABELS.items():
        for z in sorted({r["z_dim"] for r in rows}):
            sel = [r for r in rows if r["method"] == method and r["z_dim"] == z]
            if sel:
                minutes = np.mean([r["train_seconds"] for r in sel]) / 60
                lines.append(f"| {label} | {z} | {len(sel)} | {sel[0]['epochs']} | {minutes:.1f} |")
    return "\n".join(lines)


def quality_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of the pitch and sound metrics per method and z: mean RPA (vs the resynthesised
    input) before and after the swaps, and mean FAD of the reconstructions, over the runs of a cell."""
    lines = ["| method | z | runs | RPA pre-swap | RPA post-global (vs i) | RPA post-local (vs j) | FAD |",
             "|---|---|---|---|---|---|---|"]
    for method, label in METHOD_LABELS.items():
        for z in sorted({r["z_dim"] for r in rows}):
            sel = [r for r in rows if r["method"] == method and r["z_dim"] == z]
            if sel:
                rpa = [np.mean([r["rpa"]["vs_resynthesised_input"][k] for r in sel])
                       for k in ("pre", "post_global", "post_local")]
                fad = np.mean([r["fad"]["reconstruction_vs_input"] for r in sel])
                lines.append(f"| {label} | {z} | {len(sel)} | " + " | ".join(f"{x:.2f}" for x in rpa)
                             + f" | {fad:.1f} |")
    return "\n".join(lines)


#: How the probing table groups the factors: local factors of one kind share a column.
PROBE_GROUPS = {"rhythm_bar1": "rhythm", "rhythm_bar2": "rhythm", **{f"arp_chord{k}": "arpeggio" for k in range(1, 5)}}


def probing_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table of the linear probes: balanced accuracy from v and from z per factor group.

    ``rows`` carry ``method``, ``z_dim`` and ``probing`` (``{factor: {"v", "z", "chance", "kind"}}``,
    as :func:`collect` reads it from ``probing.json``); cells are means over seeds and over the
    factors of a group (rhythm: both bars; arpeggio: the four chords).
    """
    rows = [r for r in rows if r.get("probing")]
    if not rows:
        raise TsdsaeError("no probed run: run 'tsdsae probe RUN_DIR' first")
    groups: dict[str, list[float]] = {}
    for factor, d in rows[0]["probing"].items():
        groups.setdefault(PROBE_GROUPS.get(factor, factor), []).append(d["chance"])
    head = " | ".join(f"{g} from v | {g} from z" for g in groups)
    chance = " | ".join(f"{np.mean(c):.2f} | {np.mean(c):.2f}" for c in groups.values())
    lines = [f"| method | z | runs | {head} |", "|---" * (3 + 2 * len(groups)) + "|", f"| chance | | | {chance} |"]
    for method, label in METHOD_LABELS.items():
        for z in sorted({r["z_dim"] for r in rows}):
            sel = [r["probing"] for r in rows if r["method"] == method and r["z_dim"] == z]
            if not sel:
                continue
            cells = []
            for group in groups:
                factors = [f for f in sel[0] if PROBE_GROUPS.get(f, f) == group]
                cells += [f"{np.mean([p[f][latent] for p in sel for f in factors]):.2f}" for latent in ("v", "z")]
            lines.append(f"| {label} | {z} | {len(sel)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def global_factor_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table, one row per run, of whether each global factor follows v (notebook 06).

    For every factor: its macro-F1 after the global swap on the pairs that differ in that factor
    alone (1: it follows j's v; 0: it stays with i's z). Where the octave varies, also CREPE's
    share of frames of those global swaps nearest j's octave, and the RPA against i's score in
    i's own octave (:func:`~tsdsae.evaluation.factors.octave_by_pitch`).
    """
    rows = [r for r in rows if r.get("global_factors")]
    if not rows:
        raise TsdsaeError("no run evaluated on several global factors (preset cpu-octave, say)")
    factors = list(dict.fromkeys(f for r in rows for f in r["global_factors"]["swap_f1"] if "+" not in f))
    pitch = any("octave" in r["global_factors"].get("octave_by_pitch", {}) for r in rows)
    head = [f"{f} F1 after the global swap (j differs in {f})" for f in factors]
    head += ["frames nearest j's octave", "RPA vs i's own octave"] if pitch else []
    lines = ["| run | seed | " + " | ".join(head) + " |", "|---" * (2 + len(head)) + "|"]
    for r in sorted(rows, key=lambda r: (r["method"], r["seed"])):
        swaps = r["global_factors"]["swap_f1"]
        cells = [f"{swaps[f]['f1'][f]['post_global']:.2f}" if f in swaps else "—" for f in factors]
        if pitch:
            o = r["global_factors"].get("octave_by_pitch", {}).get("octave")
            cells += [f"{o['octave_accuracy']:.2f}", f"{o['rpa_vs_own_octave']:.2f}"] if o else ["—", "—"]
        lines.append(f"| {r['run']} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_curves(root: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """The per-epoch metrics of every finished run under ``root``, keyed by run folder name."""
    from .training import read_metrics

    return {path.parent.name: read_metrics(path.parent) for path in sorted(Path(root).glob("*/result.json"))}


def plateau_table(curves: Mapping[str, Sequence[Mapping[str, Any]]], factors: Sequence[float] = (1.5, 1.2)) -> str:
    """A Markdown table, one row per run, of how its validation reconstruction levels off.

    For each run: its lowest validation reconstruction (its own plateau, as far as it trained),
    the first epoch whose value lies within each of ``factors`` × that lowest value, the last
    epoch's value, and the lowest and last post-global swap F1 of stage 2 (where tracked).
    How the long CPU schedule's length was chosen (``results/cpu-long-schedule``).
    """
    head = " | ".join(f"first epoch ≤ {f}× lowest" for f in factors)
    lines = [f"| run | epochs | lowest val rec (epoch) | {head} | last val rec | post-global F1 in stage 2: "
             "lowest / last |", "|---" * (5 + len(factors)) + "|"]
    for run, ms in curves.items():
        rec = np.array([m["val"]["rec"] for m in ms])
        best = int(np.argmin(rec))
        firsts = [str(ms[int(np.argmax(rec <= f * rec[best]))]["epoch"] + 1) for f in factors]
        f1 = [m["swap_f1"]["post_global"] for m in ms if "swap_f1" in m and m["stage"] == 2]
        f1_cell = f"{min(f1):.2f} / {f1[-1]:.2f}" if f1 else "—"
        lines.append(f"| {run} | {len(ms)} | {rec[best]:.3f} ({ms[best]['epoch'] + 1}) | " + " | ".join(firsts)
                     + f" | {rec[-1]:.3f} | {f1_cell} |")
    return "\n".join(lines)


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
        tmp = root / f".{name}.tmp-{os.getpid()}.png"
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, root / name)
        paths.append(root / name)
    return paths


def report(root: str | os.PathLike) -> str:
    """The grid under ``root`` in Markdown (F1 tables and cost), after writing its figures."""
    from .plotting import SWAP_KINDS

    rows, curves = collect(root), run_curves(root)
    save_grid_figures(root, rows, curves)
    parts = [f"{len(rows)} evaluated runs.", ""]
    for key, name in SWAP_KINDS:
        parts += [f"**{name} F1** (mean ± sd over seeds)", "", summary_table(rows, key), ""]
    parts += ["**pitch and sound** (RPA against CREPE on the resynthesised input; FAD with "
              f"{rows[0]['fad']['embedding']}; means over seeds)", "", quality_table(rows), ""]
    if any(r.get("global_factors") for r in rows):
        parts += ["**global factors** (does each follow v? per run)", "", global_factor_table(rows), ""]
    if any(r.get("probing") for r in rows):
        parts += ["**linear probes** (balanced accuracy on validation; mean over seeds)", "", probing_table(rows), ""]
    parts += ["**how each run levels off** (validation reconstruction against epochs)", "",
              plateau_table(curves), ""]
    parts += ["**training cost**", "", cost_table(rows)]
    return "\n".join(parts)
