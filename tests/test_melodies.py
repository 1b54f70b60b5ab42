"""The dMelodies generator against its definition (protocol §1.1)."""

from itertools import product

import numpy as np
import pytest

from tsdsae.config import DataConfig
from tsdsae.data import draw_items
from tsdsae.data import melodies as M
from tsdsae.errors import TsdsaeError


def test_count_and_index_order_match_the_definition():
    assert M.N_MELODIES == 12 * 3 * 3 * 28 * 28 * 2**4 == 1_354_752
    expected = np.array(list(product(*(range(s) for s in M.FACTOR_SIZES))), dtype=np.int64)
    np.testing.assert_array_equal(M.factors_of(np.arange(M.N_MELODIES)), expected)


def test_index_round_trip():
    idx = np.random.default_rng(0).integers(0, M.N_MELODIES, size=500)
    np.testing.assert_array_equal(M.index_of(M.factors_of(idx)), idx)


def test_rhythms_are_combinations_in_order():
    assert len(M.RHYTHMS) == 28
    assert M.RHYTHMS[0] == (0, 1, 2, 3, 4, 5) and M.RHYTHMS[-1] == (2, 3, 4, 5, 6, 7)


def test_melody_notes_follow_the_chord_definition():
    # C4 major, both bars rhythm 0 (slots 0..5), all arpeggios up, then chord 2 down.
    labels = [0, 0, 0, 0, 0, 0, 0, 0, 0]
    notes = M.melody_notes(labels)
    assert [n.pitch for n in notes] == [60, 64, 67, 65, 69, 72, 67, 71, 74, 60, 64, 67]
    assert [n.slot for n in notes] == [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]
    down = M.melody_notes([0, 0, 0, 0, 0, 0, 1, 0, 0])
    assert [n.pitch for n in down][3:6] == [72, 69, 65]


def test_blues_and_octave_and_tonic():
    # D (2), octave 5 (label 1), blues (2): root = 12*6+2 = 74;
    # chord I = degrees 0,2,4 -> +0,+3,+6; chord IV = degrees 3,5,7 -> +5,+9,+12
    notes = M.melody_notes([2, 1, 2, 0, 0, 0, 0, 0, 0])
    assert [n.pitch for n in notes][:6] == [74, 77, 80, 79, 83, 86]


def test_paper_instrument_subset():
    sel = M.select({"tonic": ["C"], "octave": [4], "scale": ["major"]},
                   bar1_starts_with_note=True, bar2_ends_with_note=True)
    assert len(sel) == 7056 == 21 * 21 * 16
    f = M.factors_of(sel)
    assert (f[:, :3] == 0).all()
    assert all(M.RHYTHMS[r][0] == 0 for r in f[:, 3])
    assert all(M.RHYTHMS[r][-1] == 7 for r in f[:, 4])
    assert np.all(np.diff(sel) > 0)


def test_octave_subset_and_label_values_agree():
    a = M.select({"tonic": ["C"], "octave": [4, 5], "scale": ["major"]},
                 bar1_starts_with_note=True, bar2_ends_with_note=True)
    b = M.select({"tonic": [0], "octave": [4, 5], "scale": [0]},
                 bar1_starts_with_note=True, bar2_ends_with_note=True)
    assert len(a) == 2 * 7056
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("where, word", [
    ({"colour": ["red"]}, "unknown factor"),
    ({"tonic": ["H"]}, "tonic"),
    ({"octave": [7]}, "the octaves are 4, 5, 6"),
    ({"octave": [1]}, "the octaves are 4, 5, 6"),  # not read as the label of octave 5
    ({"octave": ["4"]}, "the octaves are 4, 5, 6"),
    ({"rhythm_bar1": [28]}, "rhythm_bar1"),
])
def test_out_of_range_factor_values_are_clear_errors(where, word):
    with pytest.raises(TsdsaeError, match=word):
        M.select(where)


def test_label_checks():
    with pytest.raises(TsdsaeError, match="out of range"):
        M.melody_notes([12, 0, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(TsdsaeError, match="index out of range"):
        M.factors_of(M.N_MELODIES)


def test_paper_draw_and_split():
    melody, instrument, train, val = draw_items(DataConfig())
    assert len(melody) == len(set(melody)) == 3000
    assert np.bincount(instrument).tolist() == [1500, 1500]
    assert len(train) == 2400 and len(val) == 600
    assert not set(train) & set(val) and len(set(train) | set(val)) == 3000
    again = draw_items(DataConfig())
    for x, y in zip((melody, instrument, train, val), again, strict=True):
        np.testing.assert_array_equal(x, y)
    other = draw_items(DataConfig(seed=1))[0]
    assert not np.array_equal(melody, other)


def test_draw_more_than_candidates_is_an_error():
    with pytest.raises(TsdsaeError, match="allow only 7056"):
        draw_items(DataConfig(n_melodies=8000))
