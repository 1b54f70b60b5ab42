"""Benchmark of the extensions (notebooks 06, 07): URMP's CREPE confidence filter, linear probes, factor swaps.

    python benchmarks/bench_extensions.py [--threads 1] [--segments 4]

- the CREPE confidence of 4-s segments with the tiny and the full model: the cost that
  dominates ``tsdsae urmp-prepare`` (its default is the paper's ``full``);
- ``probe_model`` and ``factor_swap_f1`` on a committed run (needs ``results/cpu`` and, for the
  factor swaps, ``results/cpu-octave``; the data sets are rendered if not cached).

Prints one line per measurement; benchmarks/README.md records the figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tsdsae.data import build_dataset
from tsdsae.data.urmp import mean_confidence
from tsdsae.device import machine_description
from tsdsae.evaluation.factors import factor_swap_f1
from tsdsae.evaluation.probing import probe_model
from tsdsae.runs import load_model
from tsdsae.tutorial import RESULTS


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--segments", type=int, default=4, help="4-s segments per CREPE measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{machine_description()}, torch {torch.__version__}, {args.threads} thread(s)")

    cfg, model = load_model(RESULTS / "cpu" / "ts-dsae-z16-factorised-framewise-seed0")
    ds = build_dataset(cfg.data, cfg.features, progress=False)
    clips = np.stack([ds.waveform(int(k)) for k in ds.split("val")[: args.segments]])
    for crepe in ("tiny", "full"):
        mean_confidence(clips[:1], 16000, crepe)  # load the weights once
        _, s = _timed(mean_confidence, clips, 16000, crepe)
        per = s / len(clips)
        print(f"CREPE {crepe} confidence: {per:.2f} s per 4-s segment ({4 / per:.1f}x real time)")

    _, s = _timed(probe_model, model, ds, cfg.features)
    print(f"probe_model, z = 16, 2,400 + 600 clips, 7 factors: {s:.1f} s")

    octave = RESULTS / "cpu-octave" / "ts-dsae-z16-factorised-enriched-seed0"
    if (octave / "best.pt").is_file():
        ocfg, omodel = load_model(octave)
        ods = build_dataset(ocfg.data, ocfg.features, progress=False)
        _, s = _timed(factor_swap_f1, omodel, ods)
        print(f"factor_swap_f1, enriched decoder, 3 kinds of pair, 600 validation clips: {s:.1f} s")


if __name__ == "__main__":
    main()
