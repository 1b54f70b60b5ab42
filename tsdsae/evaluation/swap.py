"""Does v hold the instrument? Classification of v after latent swaps (protocol §4; notebooks 02–05).

An LDA classifier is fitted on the training set's posterior means of v. Each
validation clip i is paired with a clip j of a *different* instrument, and three
decodings are re-encoded and classified:

- **pre-swap** Dec(z^i, v^i), label y_i: does the reconstruction keep its instrument?
- **post-global swap** Dec(z^i, v^j), label y_j: does the instrument follow v?
- **post-local swap** Dec(z^j, v^i), label y_i: does z leave the instrument alone?

Macro-F1 of two balanced classes: 0.5 is chance; post-global ≈ 0 means the decoder
ignores v (the global latent has collapsed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import f1_score

from ..data.dataset import MelodyAudioDataset
from ..device import module_device, seeded
from ..errors import TsdsaeError
from ..methods import StagePlan
from ..models import DSAE, reparameterise
from ..objectives import REGULARISER_TERMS
from ..training import evaluate_loss

#: The three decodings of a pair (i, j), in the protocol's order: key, name of the condition.
SWAP_KINDS = (("pre", "pre-swap"), ("post_global", "post-global swap"), ("post_local", "post-local swap"))
#: What each decoding is, for titles and players.
DECODED = {"pre": "Dec(zⁱ, vⁱ): i reconstructed", "post_global": "Dec(zⁱ, vʲ): z of i, v of j",
           "post_local": "Dec(zʲ, vⁱ): z of j, v of i"}


@torch.no_grad()
def encode(model: DSAE, features: np.ndarray | torch.Tensor, *, batch_size: int = 256,
           sample_z: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means of v (N, v_dim) and samples (or means) of z (N, T, z_dim), on the CPU."""
    model.eval()
    dev = module_device(model)
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    model.check_input(x)
    vs, zs = [], []
    for xb in x.split(batch_size):
        (vm, _), v, z_q = model.encode(xb.to(dev), sample=False)
        vs.append(vm.cpu())
        zs.append((reparameterise(*z_q) if sample_z else z_q[0]).cpu())
    return torch.cat(vs), torch.cat(zs)


def partners(labels: np.ndarray, seed: int = 0, *, differ: Sequence[bool] | None = None,
             allow_missing: bool = False) -> np.ndarray:
    """For every item, a random partner index with a *different* label (seeded).

    ``labels`` may be (N,) or (N, F) for F factors; then ``differ[f]`` says whether the
    partner must differ in factor f (True) or agree with it (False), e.g. "another
    instrument, the same octave". Default: differ in every factor. An item without any
    such partner is an error, or gets -1 with ``allow_missing``.
    """
    labels = np.asarray(labels)
    table = labels[:, None] if labels.ndim == 1 else labels
    want = np.ones(table.shape[1], bool) if differ is None else np.asarray(differ, bool)
    if want.shape != (table.shape[1],):
        raise ValueError(f"differ needs one flag per factor ({table.shape[1]}), got {len(want)}")
    rng = np.random.default_rng(seed)
    out = np.empty(len(table), dtype=np.int64)
    for i, y in enumerate(table):
        others = np.flatnonzero(((table != y) == want).all(axis=1))
        if len(others) == 0 and not allow_missing:
            raise ValueError("swap evaluation needs, for every item, a partner that differs as asked")
        out[i] = rng.choice(others) if len(others) else -1
    return out


@torch.no_grad()
def swap_decode(model: DSAE, v: torch.Tensor, z: torch.Tensor, j: np.ndarray, *,
                i: np.ndarray | None = None, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Decoder means of the pairs (i, j): pre-swap Dec(z^i, v^i), after the global swap
    Dec(z^i, v^j) and after the local swap Dec(z^j, v^i), each (pairs, T, x_dim).

    ``i`` defaults to every item, in order, so ``j`` is then one partner per item.
    """
    jt = torch.as_tensor(j)
    it = torch.arange(len(v)) if i is None else torch.as_tensor(i)
    dev = module_device(model)
    out: dict[str, list[torch.Tensor]] = {"pre": [], "post_global": [], "post_local": []}
    for k in torch.arange(len(it)).split(batch_size):
        a, b = it[k], jt[k]
        for key, zz, vv in (("pre", z[a], v[a]), ("post_global", z[a], v[b]), ("post_local", z[b], v[a])):
            out[key].append(model.decode(zz.to(dev), vv.to(dev)).cpu())
    return {k: torch.cat(b) for k, b in out.items()}


@dataclass
class SwapResult:
    """Macro-F1 of the instrument classifier on v: before and after each swap."""

    pre: float
    post_global: float
    post_local: float
    encoder: float  # on the validation clips themselves (no decoding): is the instrument in v at all?

    def as_dict(self) -> dict[str, float]:
        return {"pre": self.pre, "post_global": self.post_global, "post_local": self.post_local,
                "encoder": self.encoder}


def instrument_classifier(model: DSAE, ds: MelodyAudioDataset) -> LinearDiscriminantAnalysis:
    """The swap test's classifier: an LDA fitted on the training clips' posterior means of v."""
    v_train, _ = encode(model, ds.features[ds.train], sample_z=False)
    return LinearDiscriminantAnalysis().fit(v_train.numpy(), ds.instrument[ds.train])


def read_instruments(model: DSAE, ds: MelodyAudioDataset, decoded: Mapping[str, np.ndarray],
                     classifier: LinearDiscriminantAnalysis | None = None) -> dict[str, str]:
    """The instrument the swap test's classifier reads from each decoding (say, of :func:`swap_pair`):
    what the F1 scores count, for one pair one can listen to (notebook 04)."""
    lda = classifier or instrument_classifier(model, ds)
    v, _ = encode(model, np.stack(list(decoded.values())), sample_z=False)
    return {k: ds.instrument_names[y] for k, y in zip(decoded, lda.predict(v.numpy()), strict=True)}


def swap_f1(model: DSAE, ds: MelodyAudioDataset, *, seed: int = 0, split: str = "val") -> SwapResult:
    """The Fig. 3 protocol: LDA on training v means, macro-F1 on ``split`` under swaps."""
    with seeded(seed):
        lda = instrument_classifier(model, ds)
        idx = ds.split(split)
        y = ds.instrument[idx]
        v, z = encode(model, ds.features[idx])
        j = partners(y, seed)
        decoded = swap_decode(model, v, z, j)
        targets = {"pre": y, "post_global": y[j], "post_local": y}
        scores = {}
        for name, x_hat in decoded.items():
            v_hat, _ = encode(model, x_hat, sample_z=False)
            scores[name] = f1_score(targets[name], lda.predict(v_hat.numpy()), average="macro")
        scores["encoder"] = f1_score(y, lda.predict(v.numpy()), average="macro")
    return SwapResult(**{k: float(s) for k, s in scores.items()})


def example_pair(ds: MelodyAudioDataset, first: int | str = 0, second: int | str = 1,
                 split: str = "val") -> tuple[int, int]:
    """The first clip of ``split`` of instrument ``first`` and of ``second`` (indices or names):
    the pair (i, j) the notebooks show and play."""
    idx = ds.split(split)
    out = []
    for inst in (first, second):
        if isinstance(inst, str) and inst not in ds.instrument_names:
            raise TsdsaeError(f"no instrument {inst!r} in this data set: it has {', '.join(ds.instrument_names)}")
        k = ds.instrument_names.index(inst) if isinstance(inst, str) else inst
        own = idx[ds.instrument[idx] == k]
        if len(own) == 0:
            raise TsdsaeError(f"no {split} clip of instrument {inst!r}")
        out.append(int(own[0]))
    return out[0], out[1]


def swap_pair(model: DSAE, ds: MelodyAudioDataset, i: int, j: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The three decodings of clips i and j (keys of :data:`DECODED`), as (T, n_mels) arrays:
    ``pre`` = Dec(z^i, v^i), ``post_global`` = Dec(z^i, v^j), ``post_local`` = Dec(z^j, v^i)."""
    with seeded(seed):
        v, z = encode(model, ds.features[[i, j]])
    return {k: d[0].numpy() for k, d in swap_decode(model, v, z, np.array([1]), i=np.array([0])).items()}


def swap_one_to_many(model: DSAE, ds: MelodyAudioDataset, i: int, js: Sequence[int], seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """Clip i's z decoded with its own v (``pre``, (T, n_mels)) and with the v of each clip in ``js``
    (``post_global``, (len(js), T, n_mels)): one melody, many global latents (notebook 06)."""
    with seeded(seed):
        v, z = encode(model, ds.features[[i, *js]])
    n = len(js)
    dec = swap_decode(model, v, z, np.arange(1, n + 1), i=np.zeros(n, dtype=int))
    return {"pre": dec["pre"][0].numpy(), "post_global": dec["post_global"].numpy()}


def regulariser_values(model: DSAE, ds: MelodyAudioDataset, *, split: str = "val", seed: int = 0,
                       batch_size: int = 128) -> dict[str, float]:
    """R1–R4 (paper Eqs. 4–7) of a trained model on ``split``, computed as TS-DSAE's training does
    (:func:`~tsdsae.training.evaluate_loss` under a plan with the regularisers on: per batch,
    partners from one random permutation per swap kind), seeded; means over the clips. For a model
    trained without them, what they would ask of it (notebook 04)."""
    plan = StagePlan(stage=2, trainable=(), informed_prior=False, regularisers=True, zero_z=False,
                     take_snapshot=False)
    x = torch.as_tensor(np.asarray(ds.features[ds.split(split)])).to(module_device(model))
    with seeded(seed):
        terms = evaluate_loss(model, x, plan, None, batch_size)
    return {k: v for k, v in terms.items() if k in REGULARISER_TERMS}


def track_swap_f1(seed: int = 0) -> Callable[[DSAE, MelodyAudioDataset], dict[str, float]]:
    """A tracker for :func:`tsdsae.training.train`: the swap F1 of the model at that epoch.

    Seeded and on its own random stream (:func:`swap_f1`), so the training run is unchanged:
    F1 against epochs (notebook 05).
    """
    def tracker(model: DSAE, ds: MelodyAudioDataset) -> dict[str, float]:
        return swap_f1(model, ds, seed=seed).as_dict()
    return tracker
