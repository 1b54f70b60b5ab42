"""benchmarks/gpu_check.sh: skips cleanly without a GPU, and its steps work (run on the CPU)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh"


def _run(tmp_path, **env):
    out = tmp_path / "gpu_check.txt"
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"PYTHON": sys.executable} | env)
    return proc, out.read_text() if out.exists() else ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the check would run for minutes")
def test_without_a_gpu_it_says_so_and_succeeds(tmp_path):
    proc, text = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA GPU" in text and "step times" not in text


@pytest.mark.slow
def test_its_steps_on_the_cpu_write_step_times_and_a_training_run(tmp_path):
    proc, text = _run(tmp_path, DEVICE="cpu", TSDSAE_QUICK="1", STEPS="1", TRAIN_SECONDS="25",
                      BENCH_ARGS="--batch 8 --rounds 1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "TS-DSAE stage 2 [bf16]" in text and "DSAE [fp32]" in text
    assert "stage 1:" in text and "after epoch" in text, text
