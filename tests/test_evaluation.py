"""The swap-classification protocol on hand-made models whose answer is known, and resynthesis."""

from pathlib import Path

import numpy as np
import pytest
import torch

from tsdsae.data.dataset import MelodyAudioDataset
from tsdsae.errors import TsdsaeError
from tsdsae.evaluation import (
    DECODED,
    example_pair,
    partners,
    read_instruments,
    swap_f1,
    swap_one_to_many,
    swap_pair,
)
from tsdsae.features import log_mel, resynthesise

VD, ZD, T, X = 2, 3, 12, 80


class HandMade(torch.nn.Module):
    """Frames are [instrument code (VD) | melody (ZD) | zeros]. ``collapsed`` models put the
    instrument in z as well and decode from z alone; the others read v for it."""

    def __init__(self, collapsed: bool):
        super().__init__()
        self.collapsed = collapsed

    def check_input(self, x):
        assert x.shape[-1] == X

    def encode(self, x, sample=True):
        v = x[:, :, :VD].mean(1)
        z = x[..., : VD + ZD] if self.collapsed else x[..., VD : VD + ZD]
        return (v, torch.zeros_like(v)), v, (z, torch.full_like(z, -30.0))

    def decode(self, z, v):
        pad = torch.zeros(*z.shape[:2], X - VD - ZD)
        if self.collapsed:
            return torch.cat([z, pad], -1)
        return torch.cat([v.unsqueeze(1).expand(-1, z.shape[1], -1), z, pad], -1)


def _dataset(n=40, seed=0):
    rng = np.random.default_rng(seed)
    inst = np.arange(n) % 2
    codes = np.array([[3.0, -1.0], [-3.0, 1.0]])
    feats = np.zeros((n, T, X), np.float32)
    feats[:, :, :VD] = codes[inst][:, None, :] + 0.3 * rng.standard_normal((n, 1, VD))
    feats[:, :, VD : VD + ZD] = rng.standard_normal((n, T, ZD))
    idx = rng.permutation(n)
    return MelodyAudioDataset(Path("."), {}, feats, np.zeros((n, 1), np.int16), np.arange(n),
                              np.zeros((n, 9), np.int64), inst, np.sort(idx[:28]), np.sort(idx[28:]))


def test_a_disentangled_model_scores_one_everywhere():
    r = swap_f1(HandMade(collapsed=False), _dataset())
    assert (r.pre, r.post_global, r.post_local, r.encoder) == (1.0, 1.0, 1.0, 1.0)


def test_a_model_whose_decoder_ignores_v_scores_zero_after_the_global_swap():
    r = swap_f1(HandMade(collapsed=True), _dataset())
    assert r.pre == 1.0 and r.encoder == 1.0
    assert r.post_global == 0.0  # the swapped clip keeps its own instrument: labelled as the partner's
    assert r.post_local == 0.0   # and the instrument arrives with the partner's z


def test_partners_have_the_other_label_and_are_seeded():
    y = np.array([0, 0, 1, 1, 1, 0, 1])
    j = partners(y, seed=3)
    assert np.all(y[j] != y)
    np.testing.assert_array_equal(j, partners(y, seed=3))


def test_swap_pair_keys_and_content():
    ds = _dataset()
    pair = swap_pair(HandMade(collapsed=False), ds, 0, 1)
    assert list(pair) == list(DECODED) == ["pre", "post_global", "post_local"]
    v_of = {k: ds.features[k, :, :VD].mean(0)[None].repeat(T, 0) for k in (0, 1)}
    for key, (z_from, v_from) in {"pre": (0, 0), "post_global": (0, 1), "post_local": (1, 0)}.items():
        np.testing.assert_allclose(pair[key][:, :VD], v_of[v_from], atol=1e-6)
        np.testing.assert_allclose(pair[key][:, VD : VD + ZD], ds.features[z_from, :, VD : VD + ZD], atol=1e-6)


@pytest.mark.parametrize("collapsed", [False, True])
def test_read_instruments_says_what_the_classifier_hears_in_each_decoding_of_a_pair(collapsed):
    ds = _dataset()
    ds.manifest = {"data": {"instruments": ["violin", "trumpet"]}}
    i, j = example_pair(ds)
    model = HandMade(collapsed=collapsed)
    heard = read_instruments(model, ds, swap_pair(model, ds, i, j))
    # disentangled: the global swap takes j's instrument, the local swap keeps i's; collapsed: the reverse
    expected = ["violin", "violin", "trumpet"] if collapsed else ["violin", "trumpet", "violin"]
    assert heard == dict(zip(DECODED, expected, strict=True))


def test_swap_one_to_many_keeps_one_z_and_takes_each_v():
    ds = _dataset()
    js = [1, 2, 3]
    out = swap_one_to_many(HandMade(collapsed=False), ds, 0, js)
    assert out["pre"].shape == (T, X) and out["post_global"].shape == (3, T, X)
    np.testing.assert_allclose(out["pre"], swap_pair(HandMade(collapsed=False), ds, 0, 1)["pre"], atol=1e-6)
    for k, j in enumerate(js):
        np.testing.assert_allclose(out["post_global"][k][:, VD : VD + ZD], ds.features[0, :, VD : VD + ZD], atol=1e-6)
        np.testing.assert_allclose(out["post_global"][k][0, :VD], ds.features[j, :, :VD].mean(0), atol=1e-6)


def test_example_pair_is_the_first_validation_clip_of_each_instrument():
    ds = _dataset()
    ds.manifest = {"data": {"instruments": ["violin", "trumpet"]}}
    i, j = example_pair(ds)
    val = ds.split("val")
    assert (i, j) == (int(val[ds.instrument[val] == 0][0]), int(val[ds.instrument[val] == 1][0]))
    assert example_pair(ds, "trumpet", "violin") == (j, i)
    assert example_pair(ds, split="train")[0] in ds.split("train")
    with pytest.raises(TsdsaeError, match="no instrument 'cello'"):
        example_pair(ds, "violin", "cello")


def test_resynthesis_gives_64000_finite_samples_and_is_seeded():
    t = np.arange(64000) / 16000
    feats = log_mel(np.sin(2 * np.pi * 330 * t).astype(np.float32), 16000)
    a = resynthesise(feats)
    assert a.shape == (64000,) and torch.isfinite(a).all() and a.abs().max() == pytest.approx(1.0)
    assert torch.equal(a, resynthesise(feats))
    batch = resynthesise(torch.stack([feats, feats]))
    assert batch.shape == (2, 64000)
    # The resynthesised sine has its energy at 330 Hz again (within the ≈ 30-Hz width of a mel band there).
    spectrum = np.abs(np.fft.rfft(a.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / 64000 - 330) < 15


def test_resynthesis_refuses_other_feature_sizes():
    with pytest.raises(TsdsaeError, match="80 mel bands"):
        resynthesise(torch.zeros(251, 64))


def test_regulariser_values_are_the_training_terms_on_validation_batches():
    from tsdsae.config import ModelConfig
    from tsdsae.device import seeded
    from tsdsae.evaluation import regulariser_values
    from tsdsae.models import DSAE
    from tsdsae.objectives import swap_regularisers

    torch.manual_seed(0)
    model, ds = DSAE(ModelConfig(z_dim=4)).eval(), _dataset()
    values = regulariser_values(model, ds, batch_size=64)  # one batch: all 12 validation clips
    assert set(values) == {"r1", "r2", "r3", "r4"} and all(v >= 0 for v in values.values())
    assert values == regulariser_values(model, ds, batch_size=64)  # seeded
    x = torch.as_tensor(ds.features[ds.val])
    with seeded(0), torch.no_grad():
        post = model(x)
        direct = swap_regularisers(model, post, torch.randperm(len(x)), torch.randperm(len(x)))
    assert values == pytest.approx({k: float(v) for k, v in direct.items()}, rel=1e-6)
    assert regulariser_values(model, ds, seed=1, batch_size=64) != values  # other partners, other values
