"""The landing page's teaser: one timbre swap by DSAE and by TS-DSAE, as a figure and two clips.

    .venv/bin/python scripts/make_teaser.py [--results results/cpu-long-schedule]

Reads the committed z = 16, seed 0 runs of DSAE and TS-DSAE (by default the 600-epoch runs of
results/cpu-long-schedule) and writes book/media/teaser.png, book/media/violin.wav (clip i,
resynthesised), book/media/swap.wav (TS-DSAE: clip i's melody with clip j's v) and
book/media/dsae_swap.wav (the same swap by DSAE), all resynthesised with Griffin-Lim.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tsdsae.data import build_dataset
from tsdsae.evaluation import example_pair, swap_pair
from tsdsae.features import resynthesise
from tsdsae.listening import wav_bytes
from tsdsae.plotting import plot_mel, use_style
from tsdsae.runs import load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(ROOT / "results" / "cpu-long-schedule"))
    args = p.parse_args()
    models = {}
    for method in ("dsae", "ts-dsae"):
        cfg, models[method] = load_model(Path(args.results) / f"{method}-z16-factorised-framewise-seed0")
    ds = build_dataset(cfg.data, cfg.features)
    i, j = example_pair(ds, "violin", "trumpet")
    pairs = {m: swap_pair(model, ds, i, j) for m, model in models.items()}

    use_style()
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.9), sharey=True)
    plot_mel(ds.features[i], ax=axes[0], title="clip i: violin", colorbar=False)
    plot_mel(ds.features[j], ax=axes[1], title="clip j: trumpet", colorbar=False)
    plot_mel(pairs["dsae"]["post_global"], ax=axes[2], title="DSAE: melody of i, v of j", colorbar=False)
    plot_mel(pairs["ts-dsae"]["post_global"], ax=axes[3], title="TS-DSAE: melody of i, v of j", colorbar=False)
    media = ROOT / "book" / "media"
    media.mkdir(exist_ok=True)
    fig.savefig(media / "teaser.png", dpi=80)
    audio = resynthesise(np.stack([ds.features[i], pairs["ts-dsae"]["post_global"], pairs["dsae"]["post_global"]]),
                         cfg.features).numpy()
    (media / "violin.wav").write_bytes(wav_bytes(audio[0]))
    (media / "swap.wav").write_bytes(wav_bytes(audio[1]))
    (media / "dsae_swap.wav").write_bytes(wav_bytes(audio[2]))
    print(f"clips i={i} (melody {ds.melody[i]}), j={j} (melody {ds.melody[j]}); wrote {media}")


if __name__ == "__main__":
    main()
