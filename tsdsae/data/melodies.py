"""The dMelodies factor space, regenerated procedurally (taught in notebook 01).

dMelodies (Pati, Gururani & Lerch, ISMIR 2020; data licence CC BY-NC-SA 4.0)
describes every 2-bar melody by nine independent factors. This module
reproduces the dataset exactly — 1,354,752 melodies in the dataset's own row
order — without downloading anything, and selects the paper's subsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..errors import TsdsaeError

TONICS: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
OCTAVES: tuple[int, ...] = (4, 5, 6)
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11, 12, 14),
    "minor": (0, 2, 3, 5, 7, 8, 11, 12, 14),  # harmonic minor
    "blues": (0, 2, 3, 5, 6, 9, 10, 12, 14),
}
#: The 28 rhythms of one bar: which 6 of the 8 eighth-note slots carry an onset.
RHYTHMS: tuple[tuple[int, ...], ...] = tuple(combinations(range(8), 6))
ARPEGGIOS: tuple[str, ...] = ("up", "down")
#: Chords I, IV, V, I as scale-degree indices; bar 1 holds I, IV and bar 2 V, I.
CHORDS: tuple[tuple[int, int, int], ...] = ((0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4))

#: The nine factors in the dataset's index order, with their number of values.
FACTORS: tuple[str, ...] = (
    "tonic", "octave", "scale", "rhythm_bar1", "rhythm_bar2",
    "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4",
)
FACTOR_SIZES: tuple[int, ...] = (12, 3, 3, 28, 28, 2, 2, 2, 2)
#: Human-readable values of every factor, indexed like the factor's labels.
FACTOR_VALUES: dict[str, tuple] = {
    "tonic": TONICS,
    "octave": OCTAVES,
    "scale": tuple(SCALES),
    "rhythm_bar1": RHYTHMS,
    "rhythm_bar2": RHYTHMS,
    **{f"arp_chord{k}": ARPEGGIOS for k in range(1, 5)},
}
N_MELODIES: int = int(np.prod(FACTOR_SIZES))  # 1,354,752

SLOTS_PER_BAR = 8
N_BARS = 2


@dataclass(frozen=True)
class Note:
    """One note of a melody: MIDI pitch, onset slot (0–15) and length in slots."""

    pitch: int
    slot: int
    length: int = 1


def factors_of(index: int | np.ndarray) -> np.ndarray:
    """Factor labels (…, 9) of dataset row(s) ``index`` (mixed radix, tonic most significant)."""
    idx = np.asarray(index, dtype=np.int64)
    if np.any(idx < 0) or np.any(idx >= N_MELODIES):
        raise TsdsaeError(f"melody index out of range: dMelodies has indices 0..{N_MELODIES - 1}")
    return np.stack(np.unravel_index(idx, FACTOR_SIZES), axis=-1)


def index_of(labels: Sequence[int] | np.ndarray) -> np.ndarray | int:
    """Dataset row index of factor labels (…, 9): the inverse of :func:`factors_of`."""
    lab = np.asarray(labels, dtype=np.int64)
    _check_labels(lab)
    out = np.ravel_multi_index(tuple(np.moveaxis(lab, -1, 0)), FACTOR_SIZES)
    return int(out) if np.ndim(out) == 0 else out


def _check_labels(lab: np.ndarray) -> None:
    if lab.shape[-1:] != (len(FACTORS),):
        raise TsdsaeError(f"factor labels need {len(FACTORS)} values ({', '.join(FACTORS)})")
    for k, (name, size) in enumerate(zip(FACTORS, FACTOR_SIZES, strict=True)):
        bad = (lab[..., k] < 0) | (lab[..., k] >= size)
        if np.any(bad):
            raise TsdsaeError(f"factor '{name}' has a label out of range: allowed 0..{size - 1}")


def melody_notes(labels: Sequence[int] | np.ndarray) -> list[Note]:
    """The 12 notes of the melody with factor labels ``labels`` (dMelodies' definition)."""
    lab = np.asarray(labels, dtype=np.int64)
    _check_labels(lab)
    tonic, octave, scale, r1, r2, *arps = (int(v) for v in lab)
    root = 12 * (OCTAVES[octave] + 1) + tonic
    intervals = SCALES[tuple(SCALES)[scale]]
    pitches = []
    for chord, arp in zip(CHORDS, arps, strict=True):
        seq = chord[::-1] if ARPEGGIOS[arp] == "down" else chord
        pitches.extend(root + intervals[d] for d in seq)
    slots = [bar * SLOTS_PER_BAR + s for bar, r in enumerate((r1, r2)) for s in RHYTHMS[r]]
    return [Note(p, s) for p, s in zip(pitches, slots, strict=True)]


def piano_roll(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """A (128, 16) binary piano roll of one melody, one column per eighth-note slot."""
    roll = np.zeros((128, N_BARS * SLOTS_PER_BAR), dtype=np.uint8)
    for n in melody_notes(labels):
        roll[n.pitch, n.slot : n.slot + n.length] = 1
    return roll


def _value_labels(name: str, values: Iterable) -> list[int]:
    """Labels of factor ``name`` for values given as labels or as readable values."""
    table = FACTOR_VALUES[name]
    size = FACTOR_SIZES[FACTORS.index(name)]
    out = []
    for v in values:
        if name == "octave" and v not in OCTAVES:  # octaves are numbers: a label 0..2 would read as one
            raise TsdsaeError(f"factor 'octave' has no value {v!r}: the octaves are {', '.join(map(str, OCTAVES))}")
        if isinstance(v, str | tuple) or name == "octave":
            if v not in table:
                raise TsdsaeError(
                    f"factor '{name}' has no value {v!r}: allowed {', '.join(map(str, table))}"
                )
            out.append(table.index(v))
        elif isinstance(v, int | np.integer) and 0 <= int(v) < size:
            out.append(int(v))
        else:
            raise TsdsaeError(f"factor '{name}' has no value {v!r}: allowed labels 0..{size - 1}")
    return out


def select(
    where: Mapping[str, Iterable] | None = None,
    *,
    bar1_starts_with_note: bool = False,
    bar2_ends_with_note: bool = False,
) -> np.ndarray:
    """Dataset indices of the melodies whose factors take the given values, in dataset order.

    ``where`` maps factor names to allowed values: readable ones (``{"tonic": ["C"],
    "octave": [4], "scale": ["major"]}``) or labels (except the octave, given only as 4, 5 or 6,
    so that ``[1]`` is not silently read as octave 5). The two flags drop melodies whose
    first bar starts with a rest or whose second bar ends with a rest, as the paper does.
    """
    where = dict(where or {})
    unknown = set(where) - set(FACTORS)
    if unknown:
        raise TsdsaeError(
            f"unknown factor(s) {', '.join(sorted(unknown))}: the factors are {', '.join(FACTORS)}"
        )
    allowed = [np.arange(size) for size in FACTOR_SIZES]
    for name, values in where.items():
        allowed[FACTORS.index(name)] = np.unique(_value_labels(name, values))
    rhythm_ok = np.arange(len(RHYTHMS))
    if bar1_starts_with_note:
        starts = [i for i in rhythm_ok if RHYTHMS[i][0] == 0]
        allowed[3] = np.intersect1d(allowed[3], starts)
    if bar2_ends_with_note:
        ends = [i for i in rhythm_ok if RHYTHMS[i][-1] == SLOTS_PER_BAR - 1]
        allowed[4] = np.intersect1d(allowed[4], ends)
    grid = np.stack(np.meshgrid(*allowed, indexing="ij"), axis=-1).reshape(-1, len(FACTORS))
    return np.asarray(index_of(grid), dtype=np.int64).reshape(-1)
