"""The one place that chooses where tensors live (CUDA when present, else the CPU) and how many CPU threads work."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import torch

from .errors import TsdsaeError


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: the first CUDA GPU if there is one, else the CPU; otherwise as named."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise TsdsaeError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TsdsaeError(f"device {name!r} asked for, but this machine has no usable CUDA GPU")
    return dev


@functools.cache
def _cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name and feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    model, flags = "", frozenset()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = frozenset(value.split())
    return model, flags


def machine_description() -> str:
    """This machine in one line, as run folders, data manifests and benchmarks record it: architecture,
    cores, system, the CPU's model and its widest vector instructions.

    Epoch times from different CPUs are not comparable: e.g. a bfloat16 step needs AVX-512 BF16
    to be fast (:func:`native_bf16`), and a float32 step gains from the fused tanh of
    :func:`tsdsae.models.layers.linear_tanh` on an AVX-512 CPU, not on an AVX2 one.
    """
    model, flags = _cpu_info()
    vector = next((name for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"),
                                           ("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags),
                  torch.backends.cpu.get_cpu_capability())
    cpu = ", ".join(part for part in (model or platform.processor(), vector) if part)
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}" + (f", {cpu}" if cpu else "")


def native_bf16(device: torch.device) -> bool | None:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU with
    AVX-512 BF16 or AMX; ``None`` where this cannot be told (a CPU without /proc/cpuinfo).

    Elsewhere bfloat16 is emulated and slow: on an AVX2 CPU a bf16 training step took 8–10× as
    long as a float32 one (``benchmarks/README.md``).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    _, flags = _cpu_info()
    if device.type != "cpu" or not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def numeric_path(device: torch.device, precision: str) -> AbstractContextManager:
    """The context a training step runs in: nothing for ``"fp32"``, bfloat16 autocast for ``"bf16"``.

    Autocast keeps the weights, the optimiser and every op outside its lower-precision list in
    float32; the loss terms are computed in float32 (:mod:`tsdsae.objectives` casts).
    """
    if precision == "fp32":
        return nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise TsdsaeError(f"unknown precision {precision!r}: choose fp32 or bf16")


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a module's parameters live (the CPU for a module without parameters)."""
    param = next(module.parameters(), None)
    return torch.device("cpu") if param is None else param.device


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc's ``malloc`` keep freed blocks of up to 64 MiB for reuse instead of unmapping them.

    A training step allocates and frees dozens of activations of 8–16 MiB. By default glibc
    returns each one to the kernel and maps fresh, zeroed pages for the next: thousands of
    page faults per step, up to ≈ 15 % of a CPU step here (``benchmarks/README.md``). Raising the
    thresholds (``mallopt``) keeps that memory in the process, so the resident size stays at the
    run's peak. Called once per process by :func:`tsdsae.training.train` on the CPU; does
    nothing (returns False) where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 64 << 20) and libc.mallopt(m_trim_threshold, 256 << 20))


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch's CPU operators on ``n`` threads inside the block (``None``: leave the setting alone).

    Small models gain nothing from a second thread, and a multi-threaded torch beside another
    busy process slows down many-fold (its threads wait for each other at every operator):
    data builds, sweep workers and quick-mode tutorial runs use one.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with every torch generator seeded with ``seed``, then put them all back.

    Covers the CPU generator and that of each CUDA device, so a seeded evaluation inside a
    training run (``--track-swap-every``) leaves the run's random stream untouched on a GPU too.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
