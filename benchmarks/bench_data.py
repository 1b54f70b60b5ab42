"""Benchmark of the data pipeline: soundfont load, rendering, features, a full build.

    python benchmarks/bench_data.py [--n 3000] [--workers 2]

Prints one line per measurement; benchmarks/README.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from tsdsae.config import load_preset
from tsdsae.data import Renderer, build_dataset, draw_items, factors_of
from tsdsae.data.render import render_many
from tsdsae.device import machine_description
from tsdsae.features import log_mel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="clips in the full build")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    cfg = load_preset("paper", quick=False)
    cfg.data.n_melodies = args.n
    melody, instrument, _, _ = draw_items(cfg.data)
    labels = factors_of(melody)
    names = [cfg.data.instruments[k] for k in instrument]
    clip_s = cfg.data.n_samples / cfg.data.sample_rate
    print(f"machine: {machine_description()}, torch {torch.__version__}, "
          f"torch threads {torch.get_num_threads()}")

    t = time.perf_counter()
    r = Renderer()
    print(f"soundfont load ({r.soundfont.name}): {time.perf_counter() - t:.2f} s")
    n1 = 200
    t = time.perf_counter()
    clips = [r.render_melody(labels[i], names[i]) for i in range(n1)]
    dt = time.perf_counter() - t
    print(f"render, 1 process: {n1 / dt:.0f} clips/s ({n1 * clip_s / dt:.0f}x real time)")
    r.close()

    n2 = min(1000, args.n)
    t = time.perf_counter()
    for _ in render_many(labels[:n2], names[:n2], workers=args.workers):
        pass
    dt = time.perf_counter() - t
    print(f"render, {args.workers} workers (incl. start-up): {n2 / dt:.0f} clips/s "
          f"({n2 * clip_s / dt:.0f}x real time)")

    batch = np.stack(clips)
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        log_mel(batch[:8], 16000)
        t = time.perf_counter()
        log_mel(batch, 16000)
        dt = time.perf_counter() - t
        print(f"log-mel, batched, {threads} thread(s): {n1 / dt:.0f} clips/s")

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ds = build_dataset(cfg.data, cfg.features, cache_dir=tmp, workers=args.workers, progress=False)
        dt = time.perf_counter() - t
        print(f"full build of {len(ds)} clips (render + features + write): {dt:.1f} s, "
              f"{len(ds) / dt:.0f} clips/s")
        t = time.perf_counter()
        build_dataset(cfg.data, cfg.features, cache_dir=tmp, progress=False)
        print(f"cache hit: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
