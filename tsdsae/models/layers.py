"""Building blocks of the DSAE family (protocol §2; taught in notebook 02)."""

from __future__ import annotations

import torch
from torch import nn


def mlp(sizes: list[int], *, final_activation: bool = True) -> nn.Sequential:
    """Linear layers of ``sizes`` with tanh after every hidden layer (and the last one if asked)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if final_activation or k < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    """Two linear heads: the mean and the log-variance of a diagonal Gaussian."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.mean = nn.Linear(d_in, d_out)
        self.logvar = nn.Linear(d_in, d_out)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean(h), self.logvar(h)


class BiLSTM(nn.Module):
    """A bidirectional LSTM whose forward and backward outputs are averaged."""

    def __init__(self, d_in: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(d_in, hidden, num_layers=layers, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return 0.5 * (out[..., : self.hidden] + out[..., self.hidden :])


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A sample μ + ε·exp(½ log σ²) with ε ~ N(0, I) (differentiable in μ and log σ²)."""
    return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
