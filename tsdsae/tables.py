"""Markdown tables of data, methods and results (notebooks 01–07, ``tsdsae report``, the README).

Every table is built by :func:`markdown` from a header and rows of cells; methods are named by
their :attr:`~tsdsae.methods.Method.label` and the swap conditions by
:data:`~tsdsae.evaluation.swap.SWAP_KINDS`, so every table and figure uses the same names.
:mod:`tsdsae.plotting` holds the figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .data.melodies import FACTOR_SIZES, FACTOR_VALUES, FACTORS, RHYTHMS
from .errors import TsdsaeError
from .evaluation.swap import SWAP_KINDS
from .methods import METHOD_LABELS, REGISTRY
from .objectives import REGULARISER_TERMS
from .paper import POST_GLOBAL_F1, PRE_SWAP_F1, SPREAD

#: The post-global swap F1 at or above which a run's split counts as held (below it, the run lost part
#: of it; notebooks 04, 05 and 08).
HELD = 0.95

#: The post-global swap F1 below which a run lost its split: chance for two balanced instruments
#: (notebooks 05 and 08).
LOST = 0.5

#: How the probing table groups the factors: local factors of one kind share a column.
PROBE_GROUPS = {"rhythm_bar1": "rhythm", "rhythm_bar2": "rhythm", **{f"arp_chord{k}": "arpeggio" for k in range(1, 5)}}


def markdown(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table: one header row, then one row per sequence of cells (each shown with ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def grid_cells(rows: Sequence[Mapping[str, Any]]) -> Iterable[tuple[str, int, list[Mapping[str, Any]]]]:
    """(method label, z, the runs of that cell) for every method and z present in ``rows``, in the
    order of :data:`~tsdsae.methods.METHOD_LABELS` and of increasing z: the cells of a grid of runs
    (the tables below; notebook 08 counts within them)."""
    for method, label in METHOD_LABELS.items():
        for z in sorted({r["z_dim"] for r in rows}):
            sel = [r for r in rows if r["method"] == method and r["z_dim"] == z]
            if sel:
                yield label, z, sel


# --- data and methods (notebooks 01 and 03) ------------------------------------------

def counts_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Item counts per split and instrument (a manifest's ``counts``)."""
    splits = [s for s in counts if isinstance(counts[s], Mapping)]
    names = list(counts[splits[0]])
    return markdown(["split", *names, "total"],
                    ([s, *(counts[s][n] for n in names), sum(counts[s][n] for n in names)] for s in splits))


def factors_table() -> str:
    """The nine dMelodies factors and their values."""
    rows = []
    for name, size in zip(FACTORS, FACTOR_SIZES, strict=True):
        values = FACTOR_VALUES[name]
        if values is RHYTHMS:
            shown = "6 onsets out of 8 eighth slots, e.g. " + ", ".join(
                "".join("x" if s in r else "." for s in range(8)) for r in RHYTHMS[:3]) + ", …"
        else:
            shown = ", ".join(map(str, values))
        rows.append([name.replace("_", " "), shown, size])
    return markdown(["factor", "values", "count"], rows)


def methods_table() -> str:
    """What each training method trains when (:mod:`tsdsae.methods`)."""
    rows = []
    for m in REGISTRY.values():
        stage1 = "— (no stage 1)" if m.stage1_trainable is None else ", ".join(m.stage1_trainable)
        prior = "q_φC(v\\|x) (informed)" if m.informed_prior else "N(0, I)"
        rows.append([m.label, stage1, ", ".join(m.stage2_trainable), prior, "R1–R4" if m.regularisers else "—"])
    return markdown(["method", "stage 1 (epochs < C) trains", "stage 2 trains", "prior of v in stage 2",
                     "regularisers"], rows)


# --- one evaluation per model (notebooks 02–07) --------------------------------------

def swap_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Swap F1 scores, one row per model (label → :class:`~tsdsae.evaluation.swap.SwapResult` dict)."""
    cols = [*SWAP_KINDS, ("encoder", "encoder")]
    return markdown(["model", *(name for _, name in cols)],
                    ([label, *(f"{r[k]:.2f}" if k in r else "" for k, _ in cols)] for label, r in results.items()))


def rpa_table(evaluations: Mapping[str, Mapping[str, Any]]) -> str:
    """Raw pitch accuracy of each model (label → ``evaluation.json``): against CREPE on the
    resynthesised input before and after the swaps, and of the input against the score."""
    rows = []
    for label, e in evaluations.items():
        r = e["rpa"]["vs_resynthesised_input"]
        rows.append([label, *(f"{r[k]:.2f}" for k, _ in SWAP_KINDS), f"{e['rpa']['vs_score']['input']:.2f}"])
    return markdown(["model", *(name for _, name in SWAP_KINDS), "input vs score"], rows)


def fad_table(evaluations: Mapping[str, Mapping[str, Any]]) -> str:
    """FAD of each model's reconstructions against the inputs (label → ``evaluation.json``)."""
    return markdown(["model", "FAD", "embedding", "clips"],
                    ([label, f"{e['fad']['reconstruction_vs_input']:.2f}", e["fad"]["embedding"], e["fad"]["n_clips"]]
                     for label, e in evaluations.items()))


def regulariser_table(values: Mapping[str, Mapping[str, float]]) -> str:
    """R1–R4 of each model (label → :func:`~tsdsae.evaluation.swap.regulariser_values`)."""
    return markdown(["model", "R1", "R2", "R3", "R4"],
                    ([label, *(f"{r[k]:.3g}" for k in REGULARISER_TERMS)] for label, r in values.items()))


def regulariser_ratios(values: Sequence[Mapping[str, float]], baseline: Sequence[Mapping[str, float]]) -> str:
    """"R1 0.0079×, R2 0.25×, R3 0.007×, R4 0.24×": each term's mean over ``values`` as a multiple of
    its mean over ``baseline`` (lists of :func:`~tsdsae.evaluation.swap.regulariser_values`; TS-DSAE
    against TS-DSAE w/o reg in notebooks 04 and 08). A term whose baseline mean is 0 reads "—"."""
    means = {k: (np.mean([v[k] for v in values]), np.mean([b[k] for b in baseline])) for k in REGULARISER_TERMS}
    return ", ".join(f"{k.upper()} {a / b:.2g}×" if b else f"{k.upper()} —" for k, (a, b) in means.items())


def octave_table(result: Mapping[str, Mapping[str, float]]) -> str:
    """:func:`~tsdsae.evaluation.factors.octave_by_pitch`, one row per kind of pair."""
    return markdown(["j differs in", "clips", "RPA vs i's score in j's octave", "RPA vs i's score in i's octave",
                     "frames nearest j's octave"],
                    ([kind.replace("+", " + "), r["n_clips"], f"{r['rpa_vs_target_octave']:.2f}",
                      f"{r['rpa_vs_own_octave']:.2f}", f"{r['octave_accuracy']:.2f}"] for kind, r in result.items()))


# --- a grid of runs (:func:`tsdsae.results.collect`; notebooks 05–06, ``tsdsae report``) ---

def summary_table(rows: Sequence[Mapping[str, Any]], metric: str = "post_global") -> str:
    """Swap F1 ``metric``: mean ± sd (n seeds) per method and z."""
    zs = sorted({r["z_dim"] for r in rows})
    lines = []
    for method, label in METHOD_LABELS.items():
        cells = []
        for z in zs:
            vals = [r["swap_f1"][metric] for r in rows if r["method"] == method and r["z_dim"] == z]
            cells.append(f"{np.mean(vals):.2f} ± {np.std(vals):.2f} (n={len(vals)})" if vals else "—")
        if any(c != "—" for c in cells):
            lines.append([label, *cells])
    return markdown(["method", *(f"z = {z}" for z in zs)], lines)


def cost_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Training cost per method and z: epochs, mean wall-clock minutes per run and, where runs
    record it (``train_cpu_seconds``: runs begun after 2026-12-01), mean processor minutes over
    those runs; wall-clock counts pauses and waits for a busy core, processor time does not."""
    with_cpu = any("train_cpu_seconds" in r for r in rows)

    def line(label: str, z: int, sel: Sequence[Mapping[str, Any]]) -> list[Any]:
        out = [label, z, len(sel), sel[0]["epochs"], f"{np.mean([r['train_seconds'] for r in sel]) / 60:.1f}"]
        recorded = [r["train_cpu_seconds"] for r in sel if "train_cpu_seconds" in r]
        return out + ([f"{np.mean(recorded) / 60:.1f} (n={len(recorded)})" if recorded else "—"] if with_cpu else [])

    return markdown(["method", "z", "runs", "epochs", "wall-clock minutes per run (mean)"]
                    + (["processor minutes per run (mean, n recorded)"] if with_cpu else []),
                    (line(*cell) for cell in grid_cells(rows)))


def quality_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Pitch and sound per method and z: mean RPA (vs the resynthesised input) before and after
    the swaps, and mean FAD of the reconstructions, over the runs of a cell."""
    lines = []
    for label, z, sel in grid_cells(rows):
        rpa = [np.mean([r["rpa"]["vs_resynthesised_input"][k] for r in sel]) for k, _ in SWAP_KINDS]
        fad = np.mean([r["fad"]["reconstruction_vs_input"] for r in sel])
        lines.append([label, z, len(sel), *(f"{x:.2f}" for x in rpa), f"{fad:.2f}" if fad < 10 else f"{fad:.1f}"])
    return markdown(["method", "z", "runs", "RPA pre-swap", "RPA post-global (vs i)", "RPA post-local (vs j)", "FAD"],
                    lines)


def regulariser_grid_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """R1–R4 on validation per method and z (``evaluation.json``'s ``regularisers``): the mean over
    the runs of a cell and, where several differ, their range; for the methods trained without
    the terms, what the terms would ask of them (notebooks 04 and 08)."""
    rows = [r for r in rows if r.get("regularisers")]
    if not rows:
        raise TsdsaeError("no run evaluated with its regularisers: run 'tsdsae evaluate RUN --only regularisers'")
    lines = []
    for label, z, sel in grid_cells(rows):
        lines.append([label, z, len(sel), *(_mean_range([r["regularisers"][k] for r in sel], ".2g")
                                             for k in REGULARISER_TERMS)])
    return markdown(["method", "z", "runs", "R1", "R2", "R3", "R4"], lines)


def probing_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The linear probes: balanced accuracy from v and from z per factor group.

    ``rows`` carry ``method``, ``z_dim`` and ``probing`` (``{factor: {"v", "z", "chance", "kind"}}``,
    as :func:`~tsdsae.results.collect` reads it from ``probing.json``); cells are means over seeds
    and over the factors of a group (rhythm: both bars; arpeggio: the four chords).
    """
    rows = [r for r in rows if r.get("probing")]
    if not rows:
        raise TsdsaeError("no probed run: run 'tsdsae probe RUN_DIR' first")
    groups: dict[str, list[float]] = {}
    for factor, d in rows[0]["probing"].items():
        groups.setdefault(PROBE_GROUPS.get(factor, factor), []).append(d["chance"])
    lines = [["chance", "", "", *(f"{np.mean(c):.2f}" for c in groups.values() for _ in "vz")]]
    for label, z, sel in grid_cells(rows):
        probes = [r["probing"] for r in sel]
        cells = []
        for group in groups:
            factors = [f for f in probes[0] if PROBE_GROUPS.get(f, f) == group]
            cells += [f"{np.mean([p[f][latent] for p in probes for f in factors]):.2f}" for latent in "vz"]
        lines.append([label, z, len(sel), *cells])
    return markdown(["method", "z", "runs", *(f"{g} from {latent}" for g in groups for latent in "vz")], lines)


def global_factor_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One row per run (by method, C and seed): whether each global factor follows v (notebook 06).

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
    lines = []
    for r in sorted(rows, key=lambda r: (r["method"], r["stage1_epochs"], r["seed"])):
        swaps = r["global_factors"]["swap_f1"]
        cells = [f"{swaps[f]['f1'][f]['post_global']:.2f}" if f in swaps else "—" for f in factors]
        if pitch:
            o = r["global_factors"].get("octave_by_pitch", {}).get("octave")
            cells += [f"{o['octave_accuracy']:.2f}", f"{o['rpa_vs_own_octave']:.2f}"] if o else ["—", "—"]
        lines.append([METHOD_LABELS[r["method"]], r["z_dim"], r["seed"], r["stage1_epochs"], *cells])
    return markdown(["method", "z", "seed", "C", *head], lines)


def factor_follow_line(rows: Sequence[Mapping[str, Any]], factor: str = "octave") -> str:
    """One line per stage-1 length: ``factor``'s F1 after the global swap (pairs that differ in it
    alone) in each run, e.g. "C = 20: 0.51 (seed 0), 0.00 (seed 1); C = 40: 1.00 (seed 0)"
    (notebooks 06 and 08)."""
    by_c: dict[int, list[str]] = {}
    for r in sorted(rows, key=lambda r: (r["stage1_epochs"], r["seed"])):
        swaps = r.get("global_factors", {}).get("swap_f1", {})
        if factor in swaps:
            f1 = swaps[factor]["f1"][factor]["post_global"]
            by_c.setdefault(r["stage1_epochs"], []).append(f"{f1:.2f} (seed {r['seed']})")
    if not by_c:
        raise TsdsaeError(f"no run evaluated on pairs that differ in {factor!r}")
    return "; ".join(f"C = {c}: {', '.join(v)}" for c, v in by_c.items())


def plateau_table(curves: Mapping[str, Sequence[Mapping[str, Any]]], factors: Sequence[float] = (1.5, 1.2)) -> str:
    """One row per run: how its validation reconstruction levels off.

    For each run: its lowest validation reconstruction (its own plateau, as far as it trained),
    the first epoch whose value lies within each of ``factors`` × that lowest value, the last
    epoch's value, and the lowest and last post-global swap F1 of stage 2 (where tracked).
    How the long CPU schedule's length was chosen (``results/cpu-long-schedule``).
    """
    lines = []
    for run, ms in curves.items():
        rec = np.array([m["val"]["rec"] for m in ms])
        best = int(np.argmin(rec))
        firsts = [ms[int(np.argmax(rec <= f * rec[best]))]["epoch"] + 1 for f in factors]
        f1 = [m["swap_f1"]["post_global"] for m in ms if "swap_f1" in m and m["stage"] == 2]
        lines.append([run, len(ms), f"{rec[best]:.3f} ({ms[best]['epoch'] + 1})", *firsts, f"{rec[-1]:.3f}",
                      f"{min(f1):.2f} / {f1[-1]:.2f}" if f1 else "—"])
    return markdown(["run", "epochs", "lowest val rec (epoch)", *(f"first epoch ≤ {f}× lowest" for f in factors),
                     "last val rec", "post-global F1 in stage 2: lowest / last"], lines)


def below(f1: float, threshold: float = HELD) -> str:
    """An F1 with two digits, or as many more as it takes not to round a value below ``threshold``
    up to it (0.949 reads "0.949" and 0.94975 "0.9497", not "0.95"; notebook 08)."""
    for digits in range(2, 7):
        text = f"{f1:.{digits}f}"
        if f1 >= threshold or float(text) < threshold:
            return text
    return text


def first_below(track: Sequence[tuple[int, float]], threshold: float = HELD) -> int:
    """The index of the first check of a tracked swap F1 (``runs.swap_track``) below ``threshold``;
    ``len(track)`` when every check is at or above it."""
    return next((k for k, (_, f) in enumerate(track) if f < threshold), len(track))


def held_line(track: Sequence[tuple[int, float]], threshold: float = HELD, last: int = 6) -> str:
    """How long a tracked swap F1 (``runs.swap_track``) held: "≥ 0.95 at every check up to epoch 280,
    then 0.98 (epoch 290), …" with at most the ``last`` checks after it (notebooks 03 and 04)."""
    if not track:
        return "not tracked"
    held = first_below(track, threshold)
    if held == len(track):
        return f"≥ {threshold} at every check (epochs {track[0][0]}–{track[-1][0]})"
    after = [f"{below(f, threshold)} (epoch {e})" for e, f in track[held:]]
    shown = ", ".join(after[-last:]) + (f" (the last {last} of {len(after)} checks)" if len(after) > last else "")
    return (f"≥ {threshold} at every check up to epoch {track[held - 1][0]}, then {shown}" if held
            else f"below {threshold} from the first check (epoch {track[0][0]}): {shown}")


def fall_line(track: Sequence[tuple[int, float]], threshold: float = HELD) -> str:
    """A tracked swap F1 in one phrase: "first below 0.95 at epoch 170 (0.92), 0.33 at epoch 400",
    or "at or above 0.95 at every tracked epoch (1.00 at epoch 400)" (notebook 08's long runs)."""
    if not track:
        return "not tracked"
    fell, (e_last, f_last) = first_below(track, threshold), track[-1]
    if fell == len(track):
        return f"at or above {threshold} at every tracked epoch ({f_last:.2f} at epoch {e_last})"
    e, f = track[fell]
    return f"first below {threshold} at epoch {e} ({below(f, threshold)}), {below(f_last, threshold)} at epoch {e_last}"


def paper_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Our runs beside the paper's Fig. 3, one row per method and z: the paper's median pre-swap
    and post-global F1 (``tsdsae.paper``) and ours as mean and range over the seeds that landed,
    and how many of our runs ended below ``HELD`` (lost part of their split) and below ``LOST``
    post-global (results READMEs, notebooks 05 and 08)."""
    lines = []
    for label, z, runs in grid_cells(rows):
        method = runs[0]["method"]
        pre = [r["swap_f1"]["pre"] for r in runs]
        post = [r["swap_f1"]["post_global"] for r in runs]
        lines.append([label, z, len(runs), f"{PRE_SWAP_F1[method]:.2f}", _mean_range(pre),
                      f"{POST_GLOBAL_F1[method][z]:.2f} ({SPREAD[method]})" if z in POST_GLOBAL_F1[method] else "—",
                      _mean_range(post), f"{sum(p < HELD for p in post)} / {sum(p < LOST for p in post)}"])
    return markdown(["method", "z", "seeds", "paper pre-swap", "ours pre-swap", "paper post-global (spread)",
                     "ours post-global", f"ours below {HELD} / {LOST}"], lines)


def per_kind(values: Mapping[str, float], fmt: str = ".2f") -> str:
    """Values keyed by swap kind (a run's swap F1 or RPA) in ``SWAP_KINDS`` order: pre / post-global /
    post-local, as "1.00 / 0.33 / 0.34" (notebooks 04 and 08)."""
    return " / ".join(format(values[k], fmt) for k, _ in SWAP_KINDS)


def span(values: Sequence[float], fmt: str = ".2f") -> str:
    """'0.20–0.77', or one number when they all round to it (notebook 08)."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def _mean_range(values: Sequence[float], fmt: str = ".2f") -> str:
    """'0.62' for one value or several equal ones, '0.80 (0.60–1.00)' for several that differ."""
    spread = span(values, fmt)
    return spread if spread == format(min(values), fmt) else f"{format(np.mean(values), fmt)} ({spread})"


# --- a sweep in progress (``tsdsae sweep FILE --status``) ------------------------------

def status_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per run of a sweep: :func:`tsdsae.sweep.sweep_status`'s rows."""
    def num(x: float | None, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    return markdown(["run", "state", "epochs", "val rec (last)", "post-global F1 (last tracked)", "train min",
                     "left min (est.)"],
                    ([r["run"], r["state"], f"{r['epochs']} / {r['max_epochs']}", num(r["val_rec"], ".3f"),
                      num(r["post_global"], ".2f"), f"{r['train_seconds'] / 60:.0f}",
                      "?" if r["left_seconds"] is None else f"{r['left_seconds'] / 60:.0f}"] for r in rows))


def status_line(rows: Sequence[Mapping[str, Any]], states: Iterable[str]) -> str:
    """How many runs of a sweep are in each of ``states`` (in that order; ``done`` first), and the
    training left in CPU-hours (:func:`tsdsae.sweep.sweep_status`): the runs whose every remaining
    stage has been timed are summed, the others counted."""
    counts = Counter(r["state"] for r in rows)
    left = [r["left_seconds"] for r in rows if r["left_seconds"]]
    unknown = sum(r["left_seconds"] is None for r in rows)
    timed = (f"training left ≈ {sum(left) / 3600:.1f} CPU-hours at this sweep's median epoch times on"
             " this machine (on any, for a method or stage this one has not timed)") if left else ""
    untimed = f"{unknown} run(s) of a method or stage not timed yet" if unknown else ""
    if timed:
        estimate = f"{timed}, plus {untimed}" if untimed else timed
    else:
        estimate = f"training left not estimated: {untimed}" if untimed else "nothing left to train"
    return (f"{counts['done']} of {len(rows)} runs done"
            + "".join(f", {counts[state]} {state}" for state in states
                      if state != "done" and counts[state])
            + f"; {estimate}; one thread a worker, evaluation not included.")
