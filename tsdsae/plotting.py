"""Figures shared by the notebooks, with one house style (notebooks 01–07).

Colours come from the Okabe–Ito palette (safe for colour-blind readers);
every function takes an optional ``ax`` and returns it, so figures compose.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch

from .data.melodies import FACTOR_SIZES, FACTORS, N_BARS, SLOTS_PER_BAR, TONICS, piano_roll
from .evaluation.swap import DECODED, SWAP_KINDS
from .io import atomic_path
from .methods import ALL, METHOD_LABELS, REGISTRY
from .runs import parse_run_name

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def use_style() -> None:
    """Apply the tutorial's matplotlib style (clean axes, readable sizes)."""
    plt.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 150, "font.size": 10, "axes.titlesize": 11,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
        "axes.prop_cycle": plt.cycler(color=PALETTE), "image.cmap": "magma",
        "figure.constrained_layout.use": True,
    })


def _panels(n: int, cols: int, size: tuple[float, float], **kwargs) -> np.ndarray:
    """``n`` axes on a grid of ``cols`` columns, each ``size`` inches, the grid's spare cells hidden:
    panels stay readable at a page's width."""
    rows = -(-n // cols)
    _, grid = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False, **kwargs)
    for ax in grid.ravel()[n:]:
        ax.set_visible(False)
    return grid.ravel()[:n]


def note_name(pitch: int) -> str:
    """MIDI pitch → scientific pitch name (60 → C4)."""
    return f"{TONICS[pitch % 12]}{pitch // 12 - 1}"


def plot_piano_roll(labels: Sequence[int] | np.ndarray, ax: plt.Axes | None = None,
                    color: str = PALETTE[0], title: str | None = None) -> plt.Axes:
    """A dMelodies melody as a piano roll: eighth-note slots across, pitches up."""
    ax = ax or plt.subplots(figsize=(7, 2.6))[1]
    roll = piano_roll(labels)
    pitches = np.flatnonzero(roll.any(axis=1))
    lo, hi = pitches.min() - 2, pitches.max() + 2
    for p in pitches:
        for s in np.flatnonzero(roll[p]):
            ax.add_patch(plt.Rectangle((s, p - 0.4), 0.92, 0.8, color=color))
    n_slots = N_BARS * SLOTS_PER_BAR
    ax.set_xlim(0, n_slots)
    ax.set_ylim(lo, hi)
    ax.set_xticks(np.arange(n_slots) + 0.5, [str(s % SLOTS_PER_BAR + 1) for s in range(n_slots)])
    ax.axvline(SLOTS_PER_BAR, color="0.3", lw=1)
    shown: list[int] = []
    for p in pitches:  # a label every other semitone at most: adjacent ones would overlap
        if not shown or p - shown[-1] >= 2:
            shown.append(int(p))
    ax.set_yticks(shown, [note_name(p) for p in shown])
    ax.set_xlabel("eighth-note slot (bar 1 | bar 2)")
    ax.set_title(title or "melody")
    return ax


def plot_mel(features: np.ndarray, ax: plt.Axes | None = None, title: str | None = None,
             hop_s: float = 256 / 16000, colorbar: bool = True, vmin: float | None = -20.0,
             vmax: float | None = None) -> plt.Axes:
    """A log-mel spectrogram (T, n_mels) with time in seconds and mel band index up."""
    ax = ax or plt.subplots(figsize=(5, 2.6))[1]
    feats = np.asarray(features)
    im = ax.imshow(feats.T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax,
                   extent=(0, feats.shape[0] * hop_s, 0, feats.shape[1]))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="log power", pad=0.01)
    return ax


def plot_mean_spectra(features: np.ndarray, groups: np.ndarray, names: Sequence[str],
                      ax: plt.Axes | None = None) -> plt.Axes:
    """Mean log-mel spectrum of each group (e.g. instrument), with ±1 s.d. bands."""
    ax = ax or plt.subplots(figsize=(5, 2.8))[1]
    for k, name in enumerate(names):
        frames = np.asarray(features[groups == k]).reshape(-1, features.shape[-1])
        mu, sd = frames.mean(0), frames.std(0)
        ax.plot(mu, color=PALETTE[k % len(PALETTE)], label=name)
        ax.fill_between(np.arange(len(mu)), mu - sd, mu + sd, color=PALETTE[k % len(PALETTE)], alpha=0.15)
    ax.set_xlabel("mel band")
    ax.set_ylabel("log power")
    ax.set_title("mean spectrum per instrument")
    ax.legend(frameon=False)
    return ax


def plot_factor_histograms(factors: np.ndarray, names: Sequence[str] = FACTORS,
                           axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """How often each value of each dMelodies factor occurs in a set of melodies (three panels a row)."""
    axes = _panels(len(names), 3, (2.4, 1.9), sharey=True) if axes is None else np.ravel(axes)
    for ax, name in zip(axes, names, strict=True):
        k = FACTORS.index(name)
        counts = np.bincount(factors[:, k], minlength=FACTOR_SIZES[k])
        ax.bar(np.arange(len(counts)), counts, color=PALETTE[0], width=0.8)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xticks([])
    for ax in axes:
        if ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col():
            ax.set_ylabel("melodies")
    return axes


#: One fixed colour per method, used by every figure.
METHOD_COLOURS = {"dsae": PALETTE[5], "dsae-f": PALETTE[3], "ts-dsae-noreg": PALETTE[2], "ts-dsae": PALETTE[0]}
#: Line styles of one method's successive runs in a figure (seeds, settings).
_LINE_STYLES = ("-", "--", "-.", ":")


def plot_learning_curves(metrics: Sequence[Mapping], terms: Sequence[str] = ("rec", "kl_z", "kl_v"),
                         split: str = "val", axes: Sequence[plt.Axes] | None = None,
                         label: str | None = None, color: str | None = None) -> Sequence[plt.Axes]:
    """Per-epoch loss terms of a run (from ``metrics.jsonl``), with the stage switch marked; more than
    three terms wrap onto rows of two, so every panel stays readable at a page's width."""
    if axes is None:
        axes = _panels(len(terms), len(terms) if len(terms) <= 3 else 2, (3.2, 2.4))
    axes = np.ravel(axes)
    epochs = np.array([m["epoch"] for m in metrics])
    stages = np.array([m["stage"] for m in metrics])
    switch = epochs[np.argmax(stages == 2)] if (stages == 1).any() and (stages == 2).any() else None
    for ax, term in zip(axes, terms, strict=True):
        ys = np.array([m[split].get(term, np.nan) for m in metrics], dtype=float)
        ax.plot(epochs, ys, color=color, label=label, lw=1.4)
        if switch is not None:
            ax.axvline(switch, color="0.5", ls="--", lw=0.8)
        ax.set_title(f"{split} {term.replace('_', ' ')}")
        ax.set_xlabel("epoch")
        if term != "rec" and np.nanmin(ys) > 0:
            ax.set_yscale("log")
    if label:
        axes[-1].legend(frameon=False, fontsize=8)
    return axes


def plot_swap_f1(results: Mapping[str, Mapping[str, float]], ax: plt.Axes | None = None,
                 title: str = "instrument macro-F1 of v", chance: float = 0.5) -> plt.Axes:
    """Grouped bars: for each model (label → scores), F1 pre-swap, post-global and post-local swap.

    ``chance`` is drawn as a dotted line: 1/K for K balanced instruments.
    """
    ax = ax or plt.subplots(figsize=(max(4.5, 1.6 + 1.4 * len(results)), 2.8))[1]
    width = 0.8 / len(SWAP_KINDS)
    for k, (key, name) in enumerate(SWAP_KINDS):
        xs = np.arange(len(results)) + (k - 1) * width
        vals = [r[key] for r in results.values()]
        ax.bar(xs, vals, width, label=name, color=PALETTE[k])
        for x, val in zip(xs, vals, strict=True):
            ax.text(x, val + 0.02, f"{val:.2f}", ha="center", fontsize=7)
    ax.axhline(chance, color="0.4", ls=":", lw=1)
    ax.text(len(results) - 0.5, chance + 0.01, "chance", fontsize=7, color="0.4", ha="right")
    ax.set_xticks(np.arange(len(results)), list(results))
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("macro-F1")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return ax


def plot_swap_example(inputs: Sequence[np.ndarray], decoded: Mapping[str, np.ndarray],
                      names: Sequence[str] = ("clip i", "clip j"), per_row: int = 3) -> plt.Figure:
    """Input spectrograms first, then the decodings (each (T, n_mels)), ``per_row`` panels a row so
    each stays readable at a page's width; ``decoded`` maps a title, or a key of
    :data:`~tsdsae.evaluation.swap.DECODED` (as :func:`~tsdsae.evaluation.swap.swap_pair` returns
    them), to its decoding."""
    cols = min(per_row, max(len(inputs), len(decoded)))
    in_rows, out_rows = -(-len(inputs) // cols), -(-len(decoded) // cols)
    fig, axes = plt.subplots(in_rows + out_rows, cols, figsize=(2.6 * cols + 0.4, 2.2 * (in_rows + out_rows)),
                             sharex=True, sharey=True, squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    panels = [(feats, name) for feats, name in zip(inputs, names, strict=False)]
    slots = [axes[k // cols, k % cols] for k in range(len(panels))]
    slots += [axes[in_rows + k // cols, k % cols] for k in range(len(decoded))]
    panels += [(feats, DECODED.get(name, name)) for name, feats in decoded.items()]
    for ax, (feats, title) in zip(slots, panels, strict=True):
        ax.set_visible(True)
        plot_mel(feats, ax=ax, title=title, colorbar=False)
    return fig


def plot_latent_2d(v: np.ndarray, labels: np.ndarray, names: Sequence[str], ax: plt.Axes | None = None,
                   title: str = "posterior means of v (first two principal components)") -> plt.Axes:
    """A 2-D PCA view of global latents, coloured by instrument."""
    ax = ax or plt.subplots(figsize=(3.8, 3.4))[1]
    v = np.asarray(v, dtype=float)
    centred = v - v.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    for k, name in enumerate(names):
        sel = labels == k
        ax.scatter(xy[sel, 0], xy[sel, 1], s=9, alpha=0.7, color=PALETTE[k % len(PALETTE)], label=name)
    share = (s[:2] ** 2).sum() / max((s**2).sum(), 1e-12)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"{title}\n({100 * share:.0f}% of the variance)", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_rpa(results: Mapping[str, Mapping], ax: plt.Axes | None = None) -> plt.Axes:
    """Grouped bars of raw pitch accuracy (vs the resynthesised input) per model (label → ``rpa``)."""
    ax = ax or plt.subplots(figsize=(max(4.5, 1.6 + 1.4 * len(results)), 2.8))[1]
    width = 0.8 / len(SWAP_KINDS)
    for k, (key, name) in enumerate(SWAP_KINDS):
        xs = np.arange(len(results)) + (k - 1) * width
        vals = [r["vs_resynthesised_input"][key] for r in results.values()]
        ax.bar(xs, vals, width, label=name, color=PALETTE[k])
    model = next(iter(results.values()))["crepe_model"]
    ax.set_xticks(np.arange(len(results)), list(results))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("raw pitch accuracy")
    ax.set_title(f"pitch of z (CREPE {model}, 50 cents)")
    ax.legend(frameon=False, fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return ax


def plot_f1_over_epochs(metrics: Mapping[str, Sequence[Mapping]], stage1_epochs: int | None = None,
                        axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """Swap F1 against epochs (the ``swap_f1`` entries of ``metrics.jsonl``), one line per run label.

    Labels that start with a method name (``"ts-dsae"``, ``"ts-dsae, seed 1"``) take that method's
    colour and show its name in the legend; a method's second, third, … line is dashed, dash-dotted, ….
    Each line is drawn thinner than the one before it and on top of it, so runs that coincide (all
    at F1 = 1, say) show as nested bands rather than one line.
    """
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(8, 3.2), sharey=True)
    seen: dict[str | None, int] = {}
    widths = np.linspace(3.2 if len(metrics) > 1 else 1.3, 1.1, len(metrics))
    for (label, lines), lw in zip(metrics.items(), widths, strict=True):
        tracked = [m for m in lines if "swap_f1" in m]
        method = _method_of(label)
        style = _LINE_STYLES[seen.get(method, 0) % len(_LINE_STYLES)]
        seen[method] = seen.get(method, 0) + 1
        shown = METHOD_LABELS[method] + label[len(method):] if method else label
        for ax, (key, _) in zip(axes, SWAP_KINDS, strict=True):
            ax.plot([m["epoch"] + 1 for m in tracked], [m["swap_f1"][key] for m in tracked], marker=".",
                    ms=lw + 2, lw=lw, ls=style, color=METHOD_COLOURS.get(method), label=shown)
    for ax, (_, name) in zip(axes, SWAP_KINDS, strict=True):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.axhline(0.5, color="0.4", ls=":", lw=1)
        if stage1_epochs:
            ax.axvline(stage1_epochs, color="0.5", ls="--", lw=0.8)
        ax.set_ylim(-0.03, 1.05)
    axes[0].set_ylabel("instrument macro-F1 of v")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), frameon=False,
                          fontsize=8)
    return axes


def plot_training_curves(curves: Mapping[str, Sequence[Mapping]], axes: np.ndarray | None = None) -> np.ndarray:
    """Validation reconstruction (log scale, left) and post-global swap F1 (right) against epochs,
    one line per run and one row per z (notebook 08, ``tsdsae report``).

    ``curves`` maps a run label to its ``metrics.jsonl`` records. A label named as
    :func:`~tsdsae.runs.run_name` names them (``ts-dsae-z16-…``) gives the run's method, whose
    colour its line takes and whose name the legend shows once, and its z, whose row it joins;
    the dashed lines mark the epochs where runs switch to stage 2. ``axes``: a (number of z) × 2
    array of axes to draw into.
    """
    rows: dict[int | None, dict[str, Sequence[Mapping]]] = {}
    for label, lines in curves.items():
        parts = parse_run_name(label)
        rows.setdefault(parts and parts["z_dim"], {})[label] = lines
    zs = sorted(rows, key=lambda z: (z is None, z or 0))
    if axes is None:
        _, axes = plt.subplots(len(zs), 2, figsize=(8, 0.9 + 2.5 * len(zs)), sharex=True, sharey="col",
                               squeeze=False)
    axes = np.asarray(axes).reshape(len(zs), 2)
    for (rec, f1), z in zip(axes, zs, strict=True):
        for label, lines in rows[z].items():
            method = _method_of(label)
            colour = METHOD_COLOURS.get(method)
            rec.plot([m["epoch"] + 1 for m in lines], [m["val"]["rec"] for m in lines], lw=1.1, color=colour,
                     label=METHOD_LABELS.get(method, label), alpha=0.8)
            tracked = [m for m in lines if "swap_f1" in m]
            f1.plot([m["epoch"] + 1 for m in tracked], [m["swap_f1"]["post_global"] for m in tracked], lw=1.1,
                    marker=".", ms=3, color=colour, alpha=0.8)
        for switch in {next((m["epoch"] for m in lines if m["stage"] == 2), 0) for lines in rows[z].values()} - {0}:
            for ax in (rec, f1):
                ax.axvline(switch, color="0.5", ls="--", lw=0.8)
        rec.set_yscale("log")
        rec.set_ylabel("" if z is None else f"z = {z}", rotation=0, ha="right", va="center", fontsize=11)
        f1.set_ylim(-0.03, 1.05)
    axes[0, 0].set_title("validation reconstruction")
    axes[0, 1].set_title("post-global swap F1")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    legend = {}
    for ax in axes[:, 0]:
        legend.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    order = [METHOD_LABELS[m] for m in METHOD_COLOURS]  # methods in the paper's order, other labels after
    labels = sorted(legend, key=lambda k: order.index(k) if k in order else len(order))
    axes[0, 0].figure.legend([legend[k] for k in labels], labels, loc="outside lower center",
                             ncols=min(len(labels), 4), frameon=False, fontsize=9)
    return axes


def _method_of(label: str) -> str | None:
    """The method a run label starts with (the longest match: ``ts-dsae-noreg`` before ``ts-dsae``)."""
    return max((k for k in METHOD_COLOURS if label.startswith(k)), key=len, default=None)


def plot_pitch_tracks(tracks: Mapping[str, np.ndarray], hop_s: float = 0.01, ax: plt.Axes | None = None,
                      title: str = "pitch (CREPE)") -> plt.Axes:
    """Pitch tracks in Hz (0 = unvoiced, drawn as gaps) on a note axis; the first is drawn thick."""
    ax = ax or plt.subplots(figsize=(8, 2.8))[1]
    for k, (name, f0) in enumerate(tracks.items()):
        f0 = np.asarray(f0, dtype=float)
        midi = np.where(f0 > 0, 69 + 12 * np.log2(np.where(f0 > 0, f0, 1.0) / 440.0), np.nan)
        ax.plot(np.arange(len(f0)) * hop_s, midi, lw=4 if k == 0 else 1.4, alpha=0.35 if k == 0 else 0.9,
                color="0.2" if k == 0 else PALETTE[(k - 1) % len(PALETTE)], label=name)
    lo, hi = ax.get_ylim()
    ticks = [p for p in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) if p % 12 in (0, 4, 7)]
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, ncols=min(4, len(tracks)), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return ax


def plot_f1_grid(rows: Sequence[Mapping], axes: Sequence[plt.Axes] | None = None,
                 chance: float | None = None) -> Sequence[plt.Axes]:
    """The paper's Fig. 3: swap F1 against z for every method; seeds as dots, their mean as a bar.

    ``rows`` are evaluation records (``method``, ``z_dim``, ``seed``, ``swap_f1``), e.g. from
    :func:`tsdsae.results.collect`. The dotted line is chance, ``1/K`` for K instruments (from the
    records' ``n_instruments`` unless given).
    """
    if chance is None:
        chance = 1 / max(r.get("n_instruments", 2) for r in rows)
    if axes is None:  # one panel per row: each as wide as a book page
        _, axes = plt.subplots(3, 1, figsize=(7, 7.2), sharex=True)
    methods = [m for m in METHOD_COLOURS if any(r["method"] == m for r in rows)]
    zs = sorted({r["z_dim"] for r in rows})
    width = 0.8 / max(len(methods), 1)
    for ax, (key, name) in zip(axes, SWAP_KINDS, strict=True):
        for k, method in enumerate(methods):
            for i, z in enumerate(zs):
                vals = [r["swap_f1"][key] for r in rows if r["method"] == method and r["z_dim"] == z]
                if not vals:
                    continue
                x = i + (k - (len(methods) - 1) / 2) * width
                ax.bar(x, np.mean(vals), width * 0.9, color=METHOD_COLOURS[method], alpha=0.35)
                jitter = np.linspace(-0.25, 0.25, len(vals)) * width if len(vals) > 1 else [0.0]
                ax.scatter(x + np.asarray(jitter), vals, s=14, color=METHOD_COLOURS[method], zorder=3)
        ax.axhline(chance, color="0.4", ls=":", lw=1)
        ax.set_xticks(range(len(zs)), [f"z = {z}" for z in zs])
        ax.set_title(name)
        ax.set_ylim(-0.03, 1.08)
    for ax in axes:
        ax.set_ylabel("macro-F1 of v")
    axes[-1].text(len(zs) - 0.5, chance + 0.01, "chance", fontsize=7, color="0.4", ha="right")
    handles = [plt.Rectangle((0, 0), 1, 1, color=METHOD_COLOURS[m], alpha=0.6) for m in methods]
    axes[0].figure.legend(handles, [METHOD_LABELS[m] for m in methods], loc="outside lower center",
                          ncols=len(methods), frameon=False, fontsize=8)
    return axes


def plot_fad_vs_f1(rows: Sequence[Mapping], ax: plt.Axes | None = None) -> plt.Axes:
    """The paper's Fig. 4: reconstruction FAD against post-global-swap F1, one dot per run."""
    ax = ax or plt.subplots(figsize=(4.8, 3.4))[1]
    markers = {8: "o", 16: "s", 32: "^"}
    for r in rows:
        ax.scatter(r["fad"]["reconstruction_vs_input"], r["swap_f1"]["post_global"], s=28,
                   color=METHOD_COLOURS.get(r["method"]), marker=markers.get(r["z_dim"], "D"), alpha=0.85)
    for method in METHOD_COLOURS:
        if any(r["method"] == method for r in rows):
            ax.scatter([], [], color=METHOD_COLOURS[method], label=METHOD_LABELS[method])
    for z, mk in markers.items():
        if any(r["z_dim"] == z for r in rows):
            ax.scatter([], [], color="0.5", marker=mk, label=f"z = {z}")
    embedding = rows[0]["fad"]["embedding"] if rows else "?"
    ax.set_xlabel(f"FAD of reconstructions, lower is better\n({embedding} embedding)")
    ax.set_ylabel("post-global-swap F1")
    ax.set_ylim(-0.03, 1.05)
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


def plot_factor_swaps(table: Mapping[str, Mapping], axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """Per-factor macro-F1 after the global and the local swap, for every kind of pair (Fig. 7).

    ``table`` is :func:`~tsdsae.evaluation.factors.factor_swap_f1`'s result.
    """
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9, 3.0), sharey=True)[1]
    kinds = list(table)
    factors = list(table[kinds[0]]["f1"])
    width = 0.8 / len(factors)
    for ax, (key, name) in zip(axes, (("post_global", "after the global swap: should follow j"),
                                      ("post_local", "after the local swap: should stay with i")), strict=True):
        for k, factor in enumerate(factors):
            xs = np.arange(len(kinds)) + (k - (len(factors) - 1) / 2) * width
            vals = [table[kind]["f1"][factor][key] for kind in kinds]
            ax.bar(xs, vals, width, label=factor, color=PALETTE[k])
            for x, val in zip(xs, vals, strict=True):
                ax.text(x, val + 0.02, f"{val:.2f}", ha="center", fontsize=7)
        ticks = [f"j differs in\n{kind.replace('+', ' + ')}\n({table[kind]['n_pairs']} pairs)" for kind in kinds]
        ax.set_xticks(np.arange(len(kinds)), ticks)
        ax.set_ylim(0, 1.12)
        ax.set_title(name)
    axes[0].set_ylabel("macro-F1 of the factor from v")
    handles, names = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, [f"factor: {n}" for n in names], loc="outside lower center",
                          ncols=len(names), frameon=False, fontsize=8)
    return axes


def plot_probes(results: Mapping[str, Mapping[str, Mapping]], groups: Mapping[str, str] | None = None,
                axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """Linear-probe accuracy from v and from z per factor group, one panel per model (label → probes).

    Each model's probes are :func:`~tsdsae.evaluation.probing.probe_model`'s ``{factor: {"v", "z",
    "chance"}}``; factors sharing a ``groups`` name (e.g. both rhythm bars) are averaged.
    """
    groups = groups or {}
    if axes is None:
        axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 2.9), sharey=True, squeeze=False)[1][0]
    for ax, (label, probes) in zip(axes, results.items(), strict=True):
        names = list(dict.fromkeys(groups.get(f, f) for f in probes))
        for k, latent in enumerate(("v", "z")):
            vals = [np.mean([d[latent] for f, d in probes.items() if groups.get(f, f) == g]) for g in names]
            ax.bar(np.arange(len(names)) + (k - 0.5) * 0.38, vals, 0.38, label=f"from {latent}", color=PALETTE[k])
        for x, g in enumerate(names):
            chance = np.mean([d["chance"] for f, d in probes.items() if groups.get(f, f) == g])
            ax.plot([x - 0.4, x + 0.4], [chance, chance], color="0.3", ls=":", lw=1.2)
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_ylim(0, 1.05)
        ax.set_title(label)
    axes[0].set_ylabel("balanced accuracy (dotted: chance)")
    handles, names = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, names, loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return axes


def plot_confidence(tracks: Mapping[str, np.ndarray], threshold: float, hop_s: float = 0.01,
                    ax: plt.Axes | None = None) -> plt.Axes:
    """CREPE confidence against time for a few clips (label → track), with their means and the threshold."""
    ax = ax or plt.subplots(figsize=(8, 2.8))[1]
    for k, (label, conf) in enumerate(tracks.items()):
        t = np.arange(len(conf)) * hop_s
        ax.plot(t, conf, color=PALETTE[k], lw=1, label=f"{label} (mean {np.mean(conf):.2f})")
        ax.axhline(np.mean(conf), color=PALETTE[k], lw=1, ls="--")
    ax.axhline(threshold, color="0.2", lw=1.2, ls=":")
    ax.text(1.01, threshold, f"threshold\n{threshold}", fontsize=8, color="0.2", va="center",
            transform=ax.get_yaxis_transform())
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("CREPE confidence")
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=len(tracks),
              title="clip (dashed: its mean; keep when the mean is above the dotted threshold)", title_fontsize=8)
    return ax


def save_evaluation_figure(run_dir: str | os.PathLike, result: Mapping) -> Path:
    """Write ``figures/evaluation.png`` of an evaluated run (swap F1 and RPA, FAD in the title), atomically."""
    run_dir = Path(run_dir)
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    label = f"{result['method']} z={result['z_dim']}"
    plot_swap_f1({label: result["swap_f1"]}, ax=axes[0])
    plot_rpa({label: result["rpa"]}, ax=axes[1])
    fig.suptitle(f"{result['run']} — FAD ({result['fad']['embedding']}): "
                 f"{result['fad']['reconstruction_vs_input']:.2f}", fontsize=9)
    (run_dir / "figures").mkdir(exist_ok=True)
    path = run_dir / "figures" / "evaluation.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def _box(ax: plt.Axes, xy: tuple[float, float], text: str, colour: str, width: float = 0.2,
         height: float = 0.14) -> None:
    """A rounded box centred at ``xy`` (axes coordinates) holding ``text``."""
    ax.add_patch(FancyBboxPatch((xy[0] - width / 2, xy[1] - height / 2), width, height,
                                boxstyle="round,pad=0.01,rounding_size=0.02", fc=colour, ec="0.25", lw=1))
    ax.text(*xy, text, ha="center", va="center", fontsize=9)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], dashed: bool = False) -> None:
    """An arrow from ``start`` to ``end`` (axes coordinates)."""
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "0.25", "lw": 1.1,
                                                      "ls": "--" if dashed else "-", "shrinkA": 2, "shrinkB": 2})


def plot_model_diagram(ax: plt.Axes | None = None) -> plt.Axes:
    """The DSAE as boxes and arrows (paper Fig. 2; notebook 02): the two encoders, the latents, the
    LSTM prior and the decoder, with the module names of :class:`~tsdsae.models.DSAE`."""
    ax = ax or plt.subplots(figsize=(7.2, 3.4))[1]
    enc, lat, dec = PALETTE[4], "#f2f2f2", PALETTE[1]
    _box(ax, (0.08, 0.5), "$x_{1:T}$\nlog-mel\nframes", lat, width=0.12, height=0.3)
    _box(ax, (0.3, 0.78), "global_encoder\n$q(v \\mid x_{1:T})$", enc)
    _box(ax, (0.3, 0.32), "local_encoder\n$q(z_t \\mid x_t)$", enc)
    _box(ax, (0.52, 0.78), "$v$\none per clip", lat, width=0.12)
    _box(ax, (0.52, 0.32), "$z_t$\none per frame", lat, width=0.12)
    _box(ax, (0.52, 0.06), "prior\n$p(z_t \\mid z_{<t})$", PALETTE[2], height=0.11)
    _box(ax, (0.74, 0.55), "decoder\n$p(x_t \\mid z_t, v)$", dec)
    _box(ax, (0.93, 0.55), "$\\hat x_{1:T}$", lat, width=0.1)
    _arrow(ax, (0.14, 0.6), (0.2, 0.76))
    _arrow(ax, (0.14, 0.4), (0.2, 0.34))
    _arrow(ax, (0.4, 0.78), (0.46, 0.78))
    _arrow(ax, (0.4, 0.32), (0.46, 0.32))
    _arrow(ax, (0.52, 0.71), (0.52, 0.39), dashed=True)
    ax.text(0.535, 0.55, "full q only", fontsize=7, color="0.4", rotation=90, va="center")
    _arrow(ax, (0.58, 0.76), (0.64, 0.6))
    _arrow(ax, (0.58, 0.34), (0.64, 0.5))
    _arrow(ax, (0.84, 0.55), (0.88, 0.55))
    _arrow(ax, (0.52, 0.12), (0.52, 0.25), dashed=True)
    ax.text(0.6, 0.17, "KL$_z$: the prior predicts $z_t$ from $z_{<t}$", fontsize=8, color="0.3")
    ax.text(0.6, 0.9, "KL$_v$: against $\\mathcal{N}(0, I)$ or, in TS-DSAE, $q_{\\phi_C}(v \\mid x)$",
            fontsize=8, color="0.3")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1)
    ax.axis("off")
    return ax


def plot_method_schedule(ax: plt.Axes | None = None) -> plt.Axes:
    """What trains in each stage, per method (from :data:`~tsdsae.methods.REGISTRY`; notebook 03):
    one row per method, the four modules in stage 1 and in stage 2, trained (coloured) or frozen (grey),
    with the prior of v and the regularisers of stage 2."""
    ax = ax or plt.subplots(figsize=(7.2, 3.4))[1]
    short = {"global_encoder": "global\nenc.", "local_encoder": "local\nenc.", "prior": "prior", "decoder": "dec."}
    methods = list(REGISTRY.values())
    for row, m in enumerate(methods):
        y = len(methods) - 1 - row
        ax.text(-0.2, y, m.label, ha="right", va="center", fontsize=9, fontweight="bold")
        for stage, trainable in ((1, m.stage1_trainable), (2, m.stage2_trainable)):
            x0 = 0 if stage == 1 else 5
            if trainable is None:
                ax.text(x0 + 1.96, y, "no stage 1:\neverything trains from epoch 0", ha="center", va="center",
                        fontsize=8, color="0.4")
                continue
            for k, name in enumerate(ALL):
                on = name in trainable
                ax.add_patch(plt.Rectangle((x0 + k, y - 0.38), 0.92, 0.76, fc=METHOD_COLOURS[m.name] if on else "0.88",
                                           ec="0.3", lw=0.6))
                ax.text(x0 + k + 0.46, y, short[name], ha="center", va="center", fontsize=7,
                        color="white" if on else "0.45")
        prior = "$q_{\\phi_C}(v \\mid x)$" if m.informed_prior else "$\\mathcal{N}(0, I)$"
        ax.text(9.2, y, f"prior of v: {prior}" + ("\n+ $R_1$–$R_4$" if m.regularisers else ""), va="center", fontsize=8)
    ax.text(1.9, len(methods) - 0.35, "stage 1 (epochs < C)", ha="center", fontsize=9)
    ax.text(6.9, len(methods) - 0.35, "stage 2 (epochs ≥ C)", ha="center", fontsize=9)
    ax.set_xlim(-2.6, 12)
    ax.set_ylim(-0.6, len(methods))
    ax.axis("off")
    ax.set_title("coloured: trains; grey: frozen (stage 1's local modules stay at their random initialisation)",
                 fontsize=8, color="0.35")
    return ax
