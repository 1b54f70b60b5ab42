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

from ..crepe import HOP_S, crepe_pitch
from ..data.melodies import melody_notes

__all__ = ["HOP_S", "crepe_pitch", "mean_rpa", "raw_pitch_accuracy", "score_pitch"]

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
