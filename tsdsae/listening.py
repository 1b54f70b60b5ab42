"""Audio players for the notebooks (16 kHz), static so they survive in the rendered book."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import numpy as np
import soundfile as sf
from IPython.display import HTML


def wav_bytes(audio: np.ndarray, sample_rate: int = 16000) -> bytes:
    """Encode mono float audio in [-1, 1] as a 16-bit WAV file in memory."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1, 1), sample_rate,
             format="WAV", subtype="PCM_16")
    return buf.getvalue()


def players(clips: Mapping[str, np.ndarray], sample_rate: int = 16000) -> HTML:
    """Labelled audio players side by side, one per clip (name → mono audio).

    Embedded as base64 WAV (≈128 KB per 4-s clip), so keep to a handful per page.
    """
    cells = []
    for name, audio in clips.items():
        b64 = base64.b64encode(wav_bytes(audio, sample_rate)).decode()
        cells.append(
            '<div style="display:inline-block;margin:0 1.2em 0.6em 0;text-align:center">'
            f"<div><b>{html.escape(name)}</b></div>"
            f'<audio controls preload="none" src="data:audio/wav;base64,{b64}"></audio></div>'
        )
    return HTML("<div>" + "".join(cells) + "</div>")
