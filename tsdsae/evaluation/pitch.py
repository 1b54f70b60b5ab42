"""Is the melody in z? Raw pitch accuracy of resynthesised decodings (protocol §4, Fig. 5; notebook 05).

Pitch tracks come from CREPE (torchcrepe; ``full`` in the paper preset, ``tiny``
for quick looks), 16 kHz, 10-ms hop, Viterbi decoding, unvoiced where the
periodicity is below 0.5. Raw pitch accuracy (mir_eval, 50-cent tolerance)
compares an estimate with a reference track: CREPE on the resynthesised input,
or — for dMelodies — the score's own pitches, an exact reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import mir_eval
import numpy as np
import torch
import torchcrepe
from tqdm.auto import tqdm

from ..data.melodies import melody_notes

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


def score_pitch(labels: Sequence[int] | np.ndarray, n_frames: int, tempo_bpm: float = 120.0) -> np.ndarray:
    """The score's pitch in Hz at a 10-ms hop (0 during rests) for one dMelodies melody."""
    slot_s = 60.0 / tempo_bpm / 2.0
    times = np.arange(n_frames) * HOP_S
    f0 = np.zeros(n_frames)
    for note in melody_notes(labels):
        on = (times >= note.slot * slot_s) & (times < (note.slot + note.length) * slot_s)
        f0[on] = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
    return f0


def raw_pitch_accuracy(reference: np.ndarray, estimate: np.ndarray, cent_tolerance: float = 50.0) -> float:
    """Share of the reference's voiced frames whose estimated pitch is within ``cent_tolerance``."""
    times = np.arange(len(reference)) * HOP_S
    with warnings.catch_warnings():  # an estimate with no voiced frame is a valid answer: RPA 0
        warnings.simplefilter("ignore", UserWarning)
        ref_v, ref_c, est_v, est_c = mir_eval.melody.to_cent_voicing(times, reference, times, estimate)
        if ref_v.sum() == 0:
            return float("nan")
        return float(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance=cent_tolerance))


def mean_rpa(references: np.ndarray, estimates: np.ndarray, cent_tolerance: float = 50.0) -> float:
    """Mean raw pitch accuracy over pairs of tracks (rows), ignoring references with no voiced frame."""
    scores = np.array([raw_pitch_accuracy(r, e, cent_tolerance) for r, e in zip(references, estimates, strict=True)])
    return float(scores[~np.isnan(scores)].mean()) if (~np.isnan(scores)).any() else float("nan")
