"""An interactive swap explorer: pick two clips, swap v or z, see and hear the result (notebook 05).

Needs a live kernel (ipywidgets); the notebooks show a static example first, so the
rendered book is complete without one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Image

from .config import FeatureConfig
from .data import MelodyAudioDataset
from .evaluation.swap import DECODED, swap_pair
from .features import resynthesise
from .listening import players
from .models import DSAE
from .plotting import plot_mel

SWAPS = {"swap v (global: timbre)": "post_global", "swap z (local: melody)": "post_local"}


def clip_label(ds: MelodyAudioDataset, i: int) -> str:
    """A short name for clip ``i``: index, instrument and dMelodies melody number (if it has one)."""
    melody = f" (melody {ds.melody[i]})" if ds.melody is not None else ""
    return f"#{i} {ds.instrument_names[ds.instrument[i]]}{melody}"


def swap_view(model: DSAE, ds: MelodyAudioDataset, i: int, j: int, swap: str,
              features: FeatureConfig | None = None, seed: int = 0) -> tuple[plt.Figure, HTML]:
    """Clips i, j and the chosen swap's decoding as mel-spectrograms, and audio players of all three."""
    features = features or FeatureConfig()
    key = SWAPS[swap]
    decoded = swap_pair(model, ds, i, j, seed=seed)[key]
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.8), sharey=True)
    plot_mel(ds.features[i], ax=axes[0], title=f"clip i: {clip_label(ds, i)}", colorbar=False)
    plot_mel(ds.features[j], ax=axes[1], title=f"clip j: {clip_label(ds, j)}", colorbar=False)
    plot_mel(decoded, ax=axes[2], title=DECODED[key], colorbar=False)
    audio = resynthesise(np.stack([ds.features[i], ds.features[j], decoded]), features, seed=seed).numpy()
    return fig, players({"clip i (resynthesised)": audio[0], "clip j (resynthesised)": audio[1],
                         DECODED[key]: audio[2]})


def swap_explorer(models: Mapping[str, DSAE], ds: MelodyAudioDataset,
                  features: FeatureConfig | None = None, split: str = "val") -> widgets.VBox:
    """Dropdowns for the model and the two clips, a toggle for the kind of swap, and the result."""
    idx = ds.split(split)
    options = [(clip_label(ds, int(k)), int(k)) for k in idx]
    model_w = widgets.Dropdown(options=list(models), description="model")
    i_w = widgets.Dropdown(options=options, value=int(idx[0]), description="clip i")
    other = next((int(k) for k in idx if ds.instrument[k] != ds.instrument[idx[0]]), int(idx[-1]))
    j_w = widgets.Dropdown(options=options, value=other, description="clip j")
    swap_w = widgets.ToggleButtons(options=list(SWAPS), description="swap")
    out = widgets.Output()

    def update(_: dict | None = None) -> None:
        # The output's state is set directly (not through "with out:"), which works the same in
        # Jupyter and in headless execution (nbclient, the book build).
        fig, audio = swap_view(models[model_w.value], ds, i_w.value, j_w.value, swap_w.value, features)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        out.outputs = ()
        out.append_display_data(Image(data=buf.getvalue(), format="png"))
        out.append_display_data(audio)

    for w in (model_w, i_w, j_w, swap_w):
        w.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([model_w, swap_w]), widgets.HBox([i_w, j_w]), out])
