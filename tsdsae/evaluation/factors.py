"""Two global factors: do swaps of v move exactly the factors that differ? (paper §6.5, Fig. 7; notebook 06)

On the instrument + octave set a clip's global identity is (instrument, octave).
For every validation clip i and every *kind* of pair (partner j differs in the
instrument only, in the octave only, or in both) we decode Dec(z^i, v^j) and
Dec(z^j, v^i) and judge each factor separately:

- :func:`factor_swap_f1`: one LDA classifier per factor on the training clips'
  posterior means of v, as in :func:`~tsdsae.evaluation.swap.swap_f1`; after the
  global swap every factor should follow j, after the local swap stay with i;
- :func:`octave_by_pitch`: CREPE on the resynthesised global swaps; the melody is
  i's (it lives in z), so its pitch should be i's score moved to j's octave.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import f1_score

from ..config import EvalConfig, FeatureConfig
from ..data.dataset import MelodyAudioDataset
from ..data.melodies import FACTORS
from ..device import seeded
from ..features import resynthesise
from ..models import DSAE
from .pitch import crepe_pitch, mean_rpa, score_pitch
from .swap import encode, partners, swap_decode

#: dMelodies factors that are global (fixed for a whole clip) besides the instrument.
GLOBAL_MELODY_FACTORS = ("tonic", "octave", "scale")


def global_labels(ds: MelodyAudioDataset) -> dict[str, np.ndarray]:
    """Labels of every global factor that varies in ``ds``: the instrument, then tonic/octave/scale."""
    out = {"instrument": np.asarray(ds.instrument)}
    for name in GLOBAL_MELODY_FACTORS if ds.has_score else ():
        if len(np.unique(ds.factor(name))) > 1:
            out[name] = np.asarray(ds.factor(name))
    return out


def pair_kinds(factors: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty set of factors a pair can differ in, smallest first."""
    return [kind for r in range(1, len(factors) + 1) for kind in combinations(factors, r)]


def factor_swap_f1(model: DSAE, ds: MelodyAudioDataset, *, seed: int = 0,
                   split: str = "val") -> dict[str, dict]:
    """Macro-F1 per global factor of v before and after the swaps, for every kind of pair.

    Returns ``{kind: {"n_pairs": n, "f1": {factor: {"pre", "post_global", "post_local"}}}}`` where
    ``kind`` names the factors the partner differs in, joined by ``+`` (e.g. ``"instrument+octave"``).
    Clips without a partner of some kind (possible in small sets) sit out that kind.
    """
    labels = global_labels(ds)
    names = list(labels)
    table = np.stack([labels[f] for f in names], axis=1)
    with seeded(seed):
        v_train, _ = encode(model, ds.features[ds.train], sample_z=False)
        ldas = {f: LinearDiscriminantAnalysis().fit(v_train.numpy(), table[ds.train, k]) for k, f in enumerate(names)}
        idx = ds.split(split)
        y = table[idx]
        v, z = encode(model, ds.features[idx])
        out: dict[str, dict] = {}
        for kind in pair_kinds(names):
            j = partners(y, seed, differ=[f in kind for f in names], allow_missing=True)
            i = np.flatnonzero(j >= 0)
            if len(i) == 0:
                continue
            decoded = swap_decode(model, v, z, j[i], i=i)
            v_hat = {key: encode(model, x, sample_z=False)[0].numpy() for key, x in decoded.items()}
            targets = {"pre": y[i], "post_global": y[j[i]], "post_local": y[i]}
            out["+".join(kind)] = {"n_pairs": int(len(i)), "f1": {
                f: {key: float(f1_score(targets[key][:, k], ldas[f].predict(v_hat[key]), average="macro"))
                    for key in decoded}
                for k, f in enumerate(names)}}
    return out


def octave_by_pitch(model: DSAE, ds: MelodyAudioDataset, ev: EvalConfig, features: FeatureConfig, *,
                    n_clips: int | None = None, progress: bool = False) -> dict[str, dict[str, float]]:
    """Does the pitch of Dec(z^i, v^j) sit in j's octave? CREPE on the resynthesised global swaps.

    For the pair kinds that change the octave (``"octave"``, ``"instrument+octave"``) and
    ``n_clips`` seeded validation clips (default ``ev.n_pitch_clips``): raw pitch accuracy
    against i's score in j's octave (the target) and in i's own octave, and the share of
    frames whose pitch lies nearest to the target octave (``octave_accuracy``).
    """
    labels = global_labels(ds)
    if "octave" not in labels:
        raise ValueError("octave_by_pitch needs a data set in which the octave varies (preset cpu-octave)")
    names = list(labels)
    table = np.stack([labels[f] for f in names], axis=1)
    val = ds.split("val")
    rng = np.random.default_rng(ev.seed)
    sub = np.sort(rng.choice(len(val), size=min(n_clips or ev.n_pitch_clips, len(val)), replace=False))
    tempo = ds.manifest.get("data", {}).get("tempo_bpm", 120.0)
    octave = FACTORS.index("octave")
    out = {}
    for kind in [k for k in pair_kinds(names) if "octave" in k]:
        j = partners(table[val], ev.seed, differ=[f in kind for f in names], allow_missing=True)[sub]
        if not (j >= 0).any():
            continue
        i, j = val[sub[j >= 0]], val[j[j >= 0]]
        with seeded(ev.seed):
            v, z = encode(model, np.concatenate([ds.features[i], ds.features[j]]))
        n = len(i)
        x = swap_decode(model, v, z, np.arange(n, 2 * n), i=np.arange(n))["post_global"]
        f0 = crepe_pitch(resynthesise(x, features, n_iter=ev.griffin_lim_iters, seed=ev.seed),
                         features.sample_rate, model=ev.crepe_model, fmin=ev.crepe_fmin, fmax=ev.crepe_fmax,
                         seed=ev.seed, progress=progress)
        target, own = [], []
        for a, b in zip(i, j, strict=True):
            moved = ds.factors[a].copy()
            moved[octave] = ds.factors[b][octave]
            target.append(score_pitch(moved, f0.shape[1], tempo))
            own.append(score_pitch(ds.factors[a], f0.shape[1], tempo))
        target, own = np.stack(target), np.stack(own)
        out["+".join(kind)] = {
            "n_clips": n,
            "rpa_vs_target_octave": mean_rpa(target, f0),
            "rpa_vs_own_octave": mean_rpa(own, f0),
            "octave_accuracy": octave_accuracy(target, f0),
        }
    return out


def octave_accuracy(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Share of frames voiced in both tracks whose estimate lies nearest to the reference's octave.

    The pitch class may be off; only the octave is judged: ``round(cents / 1200) == 0``.
    """
    both = (reference > 0) & (estimate > 0)
    if not both.any():
        return float("nan")
    cents = 1200.0 * np.log2(estimate[both] / reference[both])
    return float(np.mean(np.round(cents / 1200.0) == 0))
