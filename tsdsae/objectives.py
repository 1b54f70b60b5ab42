"""The loss of the DSAE family, term by term (protocol §3; notebooks 02–04).

Every term is a **per-element mean**, as in the authors' code: reconstruction
is the mean of (x̂ − x)² over (batch, time, 80), KL_z the mean over (batch, time,
z) of the analytic KL(q(z_t|·) ‖ p(z_t|z_<t)), KL_v the mean over (batch, 16) of
KL(q(v|x) ‖ p(v)). The informed prior of TS-DSAE replaces p(v) = N(0, I) by the
snapshot posterior q_φC(v|x); the swap regularisers R1–R4 re-encode decodings
with swapped latents.
"""

from __future__ import annotations

import torch

from .models.dsae import DSAE, Gaussian, Posterior

#: The names of the four swap regularisers, in the paper's order (Eqs. 4–7): the keys of
#: :func:`swap_regularisers`, of ``evaluation.json``'s ``regularisers`` and of their tables.
REGULARISER_TERMS = ("r1", "r2", "r3", "r4")


def gaussian_kl(q: Gaussian, p: Gaussian | None = None) -> torch.Tensor:
    """Element-wise KL(N(μq, σq²) ‖ N(μp, σp²)) of diagonal Gaussians given as (mean, logvar).

    ``p=None`` is the standard normal N(0, I). Computed in float32 at least (bfloat16 inputs
    of the ``bf16`` training path are widened; float32 and float64 stay as they are).
    """
    mq, lq = _wide(q[0]), _wide(q[1])
    if p is None:
        return 0.5 * (torch.exp(lq) + mq**2 - 1.0 - lq)
    mp, lp = _wide(p[0]), _wide(p[1])
    return 0.5 * (lp - lq + (torch.exp(lq) + (mq - mp) ** 2) * torch.exp(-lp) - 1.0)


def reconstruction(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element: the Gaussian log-likelihood up to constants (float32 at least)."""
    return torch.mean((_wide(x_hat) - x) ** 2)


def _wide(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is in a narrower float type (bf16 autocast), else unchanged."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def elbo_terms(post: Posterior, x: torch.Tensor, v_prior: Gaussian | None = None) -> dict[str, torch.Tensor]:
    """rec, kl_z and kl_v of one forward pass; ``v_prior`` is N(0, I) when None (else informed)."""
    return {
        "rec": reconstruction(post.x_hat, x),
        "kl_z": gaussian_kl(post.z_q, post.z_prior).mean(),
        "kl_v": gaussian_kl(post.v_q, v_prior).mean(),
    }


def swap_regularisers(
    model: DSAE, post: Posterior, perm_global: torch.Tensor, perm_local: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four TS-DSAE regularisers for one batch (paper §3.2).

    Item i is paired with ``perm_global[i]`` for the global swap x̃ = Dec(z^i, v^j) and
    with ``perm_local[i]`` for the local swap x̃ = Dec(z^j, v^i). Both decodings are
    re-encoded together by the encoders only (no prior, no decoder):

    - R1 = KL(q(v|x̃_g) ‖ q(v|x^j))  the new global latent shows the partner's v;
    - R2 = KL(q(z|x̃_g) ‖ q(z|x^i))  the local latent is untouched by the swap;
    - R3 = KL(q(v|x̃_l) ‖ q(v|x^i))  the global latent is untouched by the swap;
    - R4 = KL(q(z|x̃_l) ‖ q(z|x^j))  the new local latent shows the partner's z.
    """
    jg, jl = perm_global, perm_local
    # Both swaps in one batch of 2B: [Dec(z^i, v^j) ; Dec(z^j, v^i)], re-encoded together.
    x_swapped = model.decode(torch.cat([post.z, post.z[jl]]), torch.cat([post.v[jg], post.v]))
    v_q, _, z_q = model.encode(x_swapped)
    b = post.v.shape[0]
    (vm, vl), (zm, zl) = v_q, z_q
    (pvm, pvl), (pzm, pzl) = post.v_q, post.z_q
    return {
        "r1": gaussian_kl((vm[:b], vl[:b]), (pvm[jg], pvl[jg])).mean(),
        "r2": gaussian_kl((zm[:b], zl[:b]), (pzm, pzl)).mean(),
        "r3": gaussian_kl((vm[b:], vl[b:]), (pvm, pvl)).mean(),
        "r4": gaussian_kl((zm[b:], zl[b:]), (pzm[jl], pzl[jl])).mean(),
    }
