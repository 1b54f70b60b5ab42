"""The fused Linear + tanh of the models' MLPs computes what the two torch ops compute."""

import pytest
import torch
from torch import nn

from tsdsae.models import layers
from tsdsae.models.layers import linear_tanh, mlp

needs_onednn = pytest.mark.skipif(not layers._onednn_linear_tanh(), reason="no oneDNN fused linear in this torch")
needs_onednn_bf16 = pytest.mark.skipif(not layers._onednn_linear_tanh(torch.bfloat16),
                                       reason="no oneDNN fused linear in bfloat16 on this CPU (it needs AVX-512)")


def _value_and_grads(fn, x, lin):
    x = x.clone().requires_grad_(True)
    lin.zero_grad(set_to_none=True)
    y = fn(x, lin)
    (y * torch.linspace(-1, 1, y.shape[-1])).sum().backward()  # a non-uniform upstream gradient
    return y.detach(), x.grad, lin.weight.grad, lin.bias.grad


def _plain(x, lin):
    return torch.tanh(lin(x))


@needs_onednn
def test_fused_linear_tanh_is_as_accurate_as_the_two_ops_in_value_and_gradient():
    torch.manual_seed(0)
    lin, x = nn.Linear(80, 64), torch.randn(4, 251, 80) * 3
    lin64 = nn.Linear(80, 64).double()
    lin64.load_state_dict(lin.state_dict())
    exact = _value_and_grads(_plain, x.double(), lin64)
    fused, plain = _value_and_grads(linear_tanh, x, lin), _value_and_grads(_plain, x, lin)
    for f, p, e in zip(fused, plain, exact, strict=True):
        assert f.dtype == torch.float32
        err_f, err_p = ((f.double() - e).norm() / e.norm()).item(), ((p.double() - e).norm() / e.norm()).item()
        assert err_f < 1e-6 and err_f < 4 * err_p + 1e-7, (err_f, err_p)  # float32 rounding, no worse than torch's


@needs_onednn_bf16
def test_fused_linear_tanh_follows_bf16_autocast():
    torch.manual_seed(0)
    lin, x = nn.Linear(16, 64), torch.randn(3, 50, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused, plain = linear_tanh(x, lin), _plain(x, lin)
    assert fused.dtype == plain.dtype == torch.bfloat16
    torch.testing.assert_close(fused.float(), plain.float(), rtol=0, atol=2e-2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = linear_tanh(x, lin)
    y.float().sum().backward()
    assert lin.weight.grad.dtype == torch.float32  # the float32 weights get float32 gradients


def test_without_onednn_the_two_torch_ops_run(monkeypatch):
    monkeypatch.setattr(layers, "_onednn_linear_tanh", lambda dtype=torch.float32: False)
    lin, x = nn.Linear(8, 4), torch.randn(2, 5, 8)
    assert torch.equal(linear_tanh(x, lin), torch.tanh(lin(x)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(linear_tanh(x, lin), torch.tanh(lin(x)))


def test_the_probe_asks_for_each_dtype(monkeypatch):
    """bfloat16 autocast asks whether the fused op runs in bfloat16 here (an AVX2 CPU: it does not)."""
    asked = []
    monkeypatch.setattr(layers, "_onednn_linear_tanh", lambda dtype=torch.float32: asked.append(dtype) or False)
    lin, x = nn.Linear(8, 4), torch.randn(2, 5, 8)
    linear_tanh(x, lin)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        linear_tanh(x, lin)
    assert asked == [torch.float32, torch.bfloat16]


def test_linear_tanh_runs_in_both_precisions_on_this_cpu():
    """Whatever this CPU supports (a bfloat16 fused op needs AVX-512), the call never raises."""
    lin, x = nn.Linear(8, 4), torch.randn(2, 5, 8)
    for dtype in (torch.float32, torch.bfloat16):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            y = linear_tanh(x, lin)
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), torch.tanh(lin(x)), rtol=0, atol=2e-2)


def test_mlp_keeps_the_keys_and_outputs_of_a_plain_sequential():
    torch.manual_seed(0)
    net = mlp([10, 64, 64, 80], final_activation=False)
    plain = nn.Sequential(nn.Linear(10, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 80))
    plain.load_state_dict(net.state_dict())  # committed checkpoints load unchanged
    x = torch.randn(2, 7, 10)
    torch.testing.assert_close(net(x), plain(x), rtol=1e-5, atol=1e-6)
    assert [type(m) for m in mlp([4, 8, 8])] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh]


def test_the_first_call_leaves_the_random_stream_alone():
    layers._onednn_linear_tanh.cache_clear()  # the first call probes oneDNN
    lin, x = nn.Linear(8, 4), torch.ones(2, 5, 8)
    torch.manual_seed(3)
    linear_tanh(x, lin)
    after = torch.randn(4)
    torch.manual_seed(3)
    assert torch.equal(after, torch.randn(4))
