"""Device selection: one place, CPU tested here (no GPU on these machines)."""

import platform

import pytest
import torch

from tsdsae import device
from tsdsae.device import resolve_device, torch_threads
from tsdsae.errors import TsdsaeError


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected and resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_or_unavailable_devices_are_clear_errors():
    with pytest.raises(TsdsaeError, match="unknown device"):
        resolve_device("tpu0")
    if not torch.cuda.is_available():
        with pytest.raises(TsdsaeError, match="no usable CUDA GPU"):
            resolve_device("cuda")


def test_torch_threads_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), torch_threads(other):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_keep_freed_memory_acts_on_glibc_only(monkeypatch):
    device.keep_freed_memory.cache_clear()
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert device.keep_freed_memory() is on_glibc  # mallopt accepted both thresholds
    device.keep_freed_memory.cache_clear()
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert device.keep_freed_memory() is False
    device.keep_freed_memory.cache_clear()


def test_machine_description_names_the_cpu_and_its_vector_instructions():
    text = device.machine_description()
    assert text.startswith(f"{platform.machine()}, ") and " cores, " in text
    if platform.machine() == "x86_64" and platform.system() == "Linux":
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
        widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
        assert widest is None or widest in text, text
