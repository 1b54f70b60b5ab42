"""Building blocks of the DSAE family (protocol §2; taught in notebook 02)."""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.autograd.function import once_differentiable


class MLP(nn.Sequential):
    """Linear layers with tanh after every hidden layer; each Linear + tanh pair runs as :func:`linear_tanh`.

    The children are ``Linear, Tanh, Linear, Tanh, …`` (a last ``Linear`` without tanh where
    asked), so a checkpoint's keys are those of the plain ``nn.Sequential``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mods = list(self)
        for k in range(0, len(mods), 2):
            x = linear_tanh(x, mods[k]) if k + 1 < len(mods) else mods[k](x)
        return x


def mlp(sizes: list[int], *, final_activation: bool = True) -> MLP:
    """Linear layers of ``sizes`` with tanh after every hidden layer (and the last one if asked)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if final_activation or k < len(sizes) - 2:
            layers.append(nn.Tanh())
    return MLP(*layers)


def linear_tanh(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """tanh(linear(x)): on the CPU one oneDNN primitive, elsewhere (or without oneDNN) the two torch ops.

    The same float32 maths as ``torch.tanh(linear(x))`` (the loss agrees to the last digit, the
    gradients to ~1e-7 relative; ``tests/test_models.py``), computed faster: torch's own CPU tanh
    evaluates a high-accuracy polynomial per element at ≈ 4 ns each here, oneDNN's fused
    activation costs a fraction of that (``benchmarks/README.md``). Under bfloat16 autocast
    (``precision="bf16"``) the product and tanh run in bfloat16, as ``nn.Linear`` would.
    """
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
    if x.device.type != "cpu" or dtype not in (torch.float32, torch.bfloat16) or not _onednn_linear_tanh(dtype):
        return torch.tanh(linear(x))
    with torch.autocast("cpu", enabled=False):
        return _LinearTanh.apply(x.to(dtype), linear.weight.to(dtype), linear.bias.to(dtype))


class _LinearTanh(torch.autograd.Function):
    """y = tanh(x Wᵀ + b) forward in one oneDNN call; the backward from the saved y, as torch's tanh does."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        y = torch.ops.mkldnn._linear_pointwise(x.contiguous(), weight, bias, "tanh", [], "")
        ctx.save_for_backward(x, weight, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, y = ctx.saved_tensors
        g = torch.ops.aten.tanh_backward(grad, y)
        gx = g @ weight if ctx.needs_input_grad[0] else None
        g2 = g.reshape(-1, g.shape[-1])
        gw = g2.t() @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        gb = g2.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


@functools.cache
def _onednn_linear_tanh(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this torch build and CPU run oneDNN's fused linear + tanh in ``dtype`` and it computes
    tanh(x Wᵀ + b): in bfloat16 oneDNN needs a CPU with AVX-512 (an AVX2-only CPU gets the two ops).

    Probed on fixed numbers, not random ones: the first training step must not move the random stream.
    """
    try:
        x, w, b = torch.linspace(-2, 2, 60).reshape(3, 5, 4), torch.linspace(1, -1, 24).reshape(6, 4), torch.ones(6)
        y = torch.ops.mkldnn._linear_pointwise(x.to(dtype), w.to(dtype), b.to(dtype), "tanh", [], "")
        return bool(torch.allclose(y.float(), torch.tanh(x @ w.t() + b), atol=1e-5 if dtype == torch.float32 else 2e-2))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


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
