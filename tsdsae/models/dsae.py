"""The disentangled sequential autoencoder and its variants (protocol §2; notebooks 02–04).

One :class:`DSAE` module, configured by :class:`~tsdsae.config.ModelConfig`:
the local encoder is *factorised* q(z_t | x_t) or *full* q(z_t | x_{1:T}, v), the
decoder *frame-wise* p(x_t | z_t, v) or *enriched* p(x_t | z_{1:T}, v). The training
methods (DSAE, DSAE-f, TS-DSAE …) differ only in what trains when and in the loss,
which live in :mod:`tsdsae.methods` and :mod:`tsdsae.objectives`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import TsdsaeError
from .layers import BiLSTM, GaussianHead, mlp, reparameterise

Gaussian = tuple[torch.Tensor, torch.Tensor]  # (mean, log-variance)


class GlobalEncoder(nn.Module):
    """q(v | x_{1:T}): a frame-wise MLP, averaged over time, then Gaussian heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.x_dim, cfg.hidden, cfg.hidden])
        self.head = GaussianHead(cfg.hidden, cfg.v_dim)

    def forward(self, x: torch.Tensor) -> Gaussian:
        return self.head(self.net(x).mean(dim=1))


class FactorisedLocalEncoder(nn.Module):
    """q(z_t | x_t): the same MLP on every frame; blind to v."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.x_dim, cfg.hidden, cfg.hidden])
        self.head = GaussianHead(cfg.hidden, cfg.z_dim)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> Gaussian:
        return self.head(self.net(x))


class FullLocalEncoder(nn.Module):
    """q(z_t | x_{1:T}, v): a bidirectional LSTM over [x_t, v] (paper Fig. 2, "full q")."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.rnn = BiLSTM(cfg.x_dim + cfg.v_dim, cfg.hidden, cfg.lstm_layers)
        self.head = GaussianHead(cfg.hidden, cfg.z_dim)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> Gaussian:
        vt = v.unsqueeze(1).expand(-1, x.shape[1], -1)
        return self.head(self.rnn(torch.cat([x, vt], dim=-1)))


class LSTMPrior(nn.Module):
    """p(z_t | z_{<t}): N(0, I) for z_1, then an LSTM over the previous samples."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.rnn = nn.LSTM(cfg.z_dim, cfg.prior_hidden, num_layers=cfg.prior_layers, batch_first=True)
        self.head = GaussianHead(cfg.prior_hidden, cfg.z_dim)

    def forward(self, z: torch.Tensor) -> Gaussian:
        """Prior parameters for every step, given posterior samples z_{1:T} (teacher forcing)."""
        h, _ = self.rnn(z[:, :-1])
        mean, logvar = self.head(h)
        first = torch.zeros_like(z[:, :1])
        return torch.cat([first, mean], dim=1), torch.cat([first, logvar], dim=1)


class FramewiseDecoder(nn.Module):
    """p(x_t | z_t, v): an MLP on [z_t, v]; the output is the mean of x_t."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = mlp([cfg.z_dim + cfg.v_dim, cfg.hidden, cfg.hidden, cfg.x_dim], final_activation=False)

    def forward(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        vt = v.unsqueeze(1).expand(-1, z.shape[1], -1)
        return self.net(torch.cat([z, vt], dim=-1))


class EnrichedDecoder(nn.Module):
    """p(x_t | z_{1:T}, v): a bidirectional LSTM over [z_t, v], then a linear output (paper §6.4)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.rnn = BiLSTM(cfg.z_dim + cfg.v_dim, cfg.hidden, cfg.lstm_layers)
        self.out = nn.Linear(cfg.hidden, cfg.x_dim)

    def forward(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        vt = v.unsqueeze(1).expand(-1, z.shape[1], -1)
        return self.out(self.rnn(torch.cat([z, vt], dim=-1)))


@dataclass
class Posterior:
    """Everything one forward pass produces for a batch."""

    v_q: Gaussian          # q(v | x): (B, v_dim) each
    v: torch.Tensor        # a sample of v
    z_q: Gaussian          # q(z_t | ·): (B, T, z_dim) each
    z: torch.Tensor        # samples of z_{1:T}
    z_prior: Gaussian      # p(z_t | z_{<t})
    x_hat: torch.Tensor    # decoder mean (B, T, x_dim)


class DSAE(nn.Module):
    """The DSAE: global and local encoders, the LSTM prior over z, and the decoder."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.global_encoder = GlobalEncoder(cfg)
        self.local_encoder = (FullLocalEncoder if cfg.encoder == "full" else FactorisedLocalEncoder)(cfg)
        self.prior = LSTMPrior(cfg)
        self.decoder = (EnrichedDecoder if cfg.decoder == "enriched" else FramewiseDecoder)(cfg)

    def check_input(self, x: torch.Tensor) -> None:
        """A one-line error unless ``x`` is (batch, time, x_dim) (training checks finiteness once, up front)."""
        if x.ndim != 3 or x.shape[-1] != self.cfg.x_dim:
            raise TsdsaeError(
                f"the model reads (batch, time, {self.cfg.x_dim}) features, got shape {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor, *, sample: bool = True) -> tuple[Gaussian, torch.Tensor, Gaussian]:
        """q(v|x), a v (sample or mean), and q(z|x, v). Encoders only: no prior, no decoder."""
        v_q = self.global_encoder(x)
        v = reparameterise(*v_q) if sample else v_q[0]
        return v_q, v, self.local_encoder(x, v)

    def decode(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The decoder mean for local latents z (B, T, z_dim) and global latents v (B, v_dim)."""
        return self.decoder(z, v)

    def forward(self, x: torch.Tensor, *, sample: bool = True, zero_z: bool = False) -> Posterior:
        """Encode, sample, evaluate the prior over z and decode. ``zero_z`` feeds z = 0 to the decoder."""
        self.check_input(x)
        v_q, v, z_q = self.encode(x, sample=sample)
        z = reparameterise(*z_q) if sample else z_q[0]
        z_prior = self.prior(z)
        x_hat = self.decode(torch.zeros_like(z) if zero_z else z, v)
        return Posterior(v_q, v, z_q, z, z_prior, x_hat)
