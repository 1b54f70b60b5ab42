"""The loss terms against independent computations (protocol §3)."""

import numpy as np
import pytest
import torch

from tsdsae.config import ModelConfig
from tsdsae.methods import get_method, stage_plan
from tsdsae.models import DSAE
from tsdsae.models.dsae import Posterior
from tsdsae.objectives import REGULARISER_TERMS, elbo_terms, gaussian_kl, swap_regularisers


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mq, lq = torch.randn(5, generator=g), torch.randn(5, generator=g) * 0.5
    mp, lp = torch.randn(5, generator=g), torch.randn(5, generator=g) * 0.5
    n = 400_000
    s = mq + torch.randn(n, 5, generator=g, dtype=torch.float64) * torch.exp(0.5 * lq)
    logq = -0.5 * (lq + (s - mq) ** 2 / torch.exp(lq))
    logp = -0.5 * (lp + (s - mp) ** 2 / torch.exp(lp))
    mc = (logq - logp).mean(0)
    torch.testing.assert_close(gaussian_kl((mq, lq), (mp, lp)).double(), mc, atol=0.02, rtol=0.02)
    assert torch.all(gaussian_kl((mq, lq)) >= 0)
    torch.testing.assert_close(gaussian_kl((mq, lq)), gaussian_kl((mq, lq), (torch.zeros(5), torch.zeros(5))))


def _np_mlp(layers, x, final_tanh):
    linears = [m for m in layers if isinstance(m, torch.nn.Linear)]
    for k, lin in enumerate(linears):
        x = x @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()
        if final_tanh or k < len(linears) - 1:
            x = np.tanh(x)
    return x


def _np_head(head, h):
    w = lambda m: (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())  # noqa: E731
    (wm, bm), (wl, bl) = w(head.mean), w(head.logvar)
    return h @ wm.T + bm, h @ wl.T + bl


def _np_lstm(lstm, x):
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    for layer in range(lstm.num_layers):
        wi = getattr(lstm, f"weight_ih_l{layer}").detach().double().numpy()
        wh = getattr(lstm, f"weight_hh_l{layer}").detach().double().numpy()
        b = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        b = b.detach().double().numpy()
        hdim = wh.shape[1]
        h = np.zeros((x.shape[0], hdim))
        c = np.zeros((x.shape[0], hdim))
        out = []
        for t in range(x.shape[1]):
            gates = x[:, t] @ wi.T + h @ wh.T + b
            i, f, g, o = np.split(gates, 4, axis=1)  # PyTorch's gate order
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
            out.append(h)
        x = np.stack(out, axis=1)
    return x


def _np_kl(mq, lq, mp, lp):
    return 0.5 * (lp - lq + (np.exp(lq) + (mq - mp) ** 2) * np.exp(-lp) - 1)


def test_loss_of_a_tiny_batch_equals_numpy():
    torch.manual_seed(3)
    cfg = ModelConfig(z_dim=4, v_dim=3, hidden=8, prior_hidden=5)
    model = DSAE(cfg).double()
    x = torch.randn(2, 7, 80, dtype=torch.float64)
    torch.manual_seed(11)
    post = model(x)
    terms = elbo_terms(post, x)
    torch.manual_seed(11)  # the same noise, drawn in the model's order: v first, then z
    eps_v = torch.randn(2, 3, dtype=torch.float64).numpy()
    eps_z = torch.randn(2, 7, 4, dtype=torch.float64).numpy()

    xn = x.numpy()
    gm, gl = _np_head(model.global_encoder.head, _np_mlp(model.global_encoder.net, xn, True).mean(1))
    v = gm + eps_v * np.exp(0.5 * gl)
    zm, zl = _np_head(model.local_encoder.head, _np_mlp(model.local_encoder.net, xn, True))
    z = zm + eps_z * np.exp(0.5 * zl)
    pm, pl = _np_head(model.prior.head, _np_lstm(model.prior.rnn, z[:, :-1]))
    pm = np.concatenate([np.zeros((2, 1, 4)), pm], 1)
    pl = np.concatenate([np.zeros((2, 1, 4)), pl], 1)
    dec_in = np.concatenate([z, np.repeat(v[:, None], 7, axis=1)], -1)
    x_hat = _np_mlp(model.decoder.net, dec_in, False)

    assert terms["rec"].item() == pytest.approx(np.mean((x_hat - xn) ** 2), rel=1e-9)
    assert terms["kl_z"].item() == pytest.approx(np.mean(_np_kl(zm, zl, pm, pl)), rel=1e-9)
    assert terms["kl_v"].item() == pytest.approx(np.mean(0.5 * (np.exp(gl) + gm**2 - 1 - gl)), rel=1e-9)


class _Transparent:
    """Decode = write (z, v) into the frames; encode = read them back exactly (σ² = 1)."""

    def __init__(self, zd, vd):
        self.zd, self.vd = zd, vd

    def decode(self, z, v):
        return torch.cat([z, v.unsqueeze(1).expand(-1, z.shape[1], -1)], -1)

    def encode(self, x):
        v = x[:, 0, self.zd:]
        z = x[..., : self.zd]
        return (v, torch.zeros_like(v)), v, (z, torch.zeros_like(z))


def _hand_built(b=5, t=3, zd=2, vd=2):
    z = torch.arange(b * t * zd, dtype=torch.float32).reshape(b, t, zd)
    v = 100 + torch.arange(b * vd, dtype=torch.float32).reshape(b, vd)
    return Posterior((v, torch.zeros_like(v)), v, (z, torch.zeros_like(z)), z, (z, z), z)


def test_regularisers_pair_the_right_items():
    post, model = _hand_built(), _Transparent(2, 2)
    perm_g, perm_l = torch.tensor([1, 2, 3, 4, 0]), torch.tensor([4, 3, 0, 1, 2])
    r = swap_regularisers(model, post, perm_g, perm_l)
    assert tuple(r) == REGULARISER_TERMS
    for k in REGULARISER_TERMS:  # a transparent model: every target is met exactly
        assert r[k].item() == 0.0, k
    # Targets that ignore the partner would be wrong: the swapped v differs from the own v.
    v_q, _, _ = model.encode(model.decode(post.z, post.v[perm_g]))
    assert gaussian_kl(v_q, post.v_q).mean() > 1


def test_stage_plans():
    from tsdsae.config import TrainConfig

    tc = TrainConfig(stage1_epochs=3, max_epochs=6)
    f = get_method("dsae-f")
    assert stage_plan(f, 2, tc).trainable == ("global_encoder", "decoder")
    assert "global_encoder" not in stage_plan(f, 3, tc).trainable
    ts = get_method("ts-dsae")
    p = stage_plan(ts, 3, tc)
    assert p.take_snapshot and p.informed_prior and p.regularisers and p.stage == 2
    assert not stage_plan(ts, 4, tc).take_snapshot
    assert stage_plan(get_method("dsae"), 0, tc).stage == 2
