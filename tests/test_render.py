"""FluidSynth rendering with a real soundfont (protocol §1.2)."""

import librosa
import numpy as np
import pretty_midi
import pytest

from tsdsae.data import melodies as M
from tsdsae.data import render as R
from tsdsae.errors import TsdsaeError


@pytest.fixture(scope="module")
def renderer():
    with R.Renderer() as r:
        yield r


def test_clip_is_mono_exact_length_and_peak_normalised(renderer):
    clip = renderer.render_melody(M.factors_of(123_456), "violin")
    assert clip.shape == (64000,) and clip.dtype == np.float32
    assert np.max(np.abs(clip)) == pytest.approx(1.0)
    assert np.isfinite(clip).all()


def test_rendering_does_not_depend_on_what_came_before(renderer):
    lab = M.factors_of(4242)
    first = renderer.render_melody(lab, "trumpet")
    renderer.render_melody(M.factors_of(999), "violin")
    assert np.array_equal(first, renderer.render_melody(lab, "trumpet"))


def test_instruments_sound_different(renderer):
    lab = M.factors_of(4242)
    assert not np.allclose(renderer.render_melody(lab, "violin"), renderer.render_melody(lab, "trumpet"))


def test_midi_timing_is_120_bpm_eighths():
    lab = M.factors_of(77)
    pm = R.melody_midi(lab, "trumpet")
    starts = [n.start for n in pm.instruments[0].notes]
    assert starts == [n.slot * 0.25 for n in M.melody_notes(lab)]
    assert all(n.end - n.start == pytest.approx(0.25) for n in pm.instruments[0].notes)
    assert pm.instruments[0].program == 56 and R.program_of("violin") == 40


def test_a_rendered_a4_has_a_440_hz_fundamental(renderer):
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=R.program_of("trumpet"))
    inst.notes.append(pretty_midi.Note(100, 69, 0.0, 1.0))
    pm.instruments.append(inst)
    audio = renderer.render_midi(pm, 16000).mean(axis=1)
    f0 = librosa.yin(audio[2000:14000], fmin=200, fmax=1000, sr=16000, frame_length=2048)
    assert np.median(f0) == pytest.approx(440.0, rel=0.02)


def test_notes_sound_where_the_score_has_them(renderer):
    lab = M.index_of([0, 0, 0, 0, 0, 0, 0, 0, 0])  # slots 0-5 and 8-13: rests at 6,7 and 14,15
    clip = renderer.render_melody(M.factors_of(lab), "trumpet")
    rms = [np.sqrt(np.mean(clip[k * 4000:(k + 1) * 4000] ** 2)) for k in range(16)]
    assert min(rms[0:6]) > 3 * rms[7]


def test_missing_soundfont_path_is_a_one_line_error(tmp_path):
    with pytest.raises(TsdsaeError, match="soundfont not found") as e:
        R.find_soundfont(tmp_path / "nope.sf2")
    assert "\n" not in str(e.value)


def test_soundfont_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(R.SOUNDFONT_ENV, str(tmp_path / "missing.sf3"))
    with pytest.raises(TsdsaeError, match="TSDSAE_SOUNDFONT"):
        R.find_soundfont()
    monkeypatch.setenv(R.SOUNDFONT_ENV, str(R.MUSESCORE_LITE))
    assert R.find_soundfont() == R.MUSESCORE_LITE


def test_no_soundfont_anywhere_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv(R.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(R, "MUSESCORE_LITE", tmp_path / "a.sf3")
    monkeypatch.setattr(R, "SYSTEM_DEFAULT_GM", (tmp_path / "b.sf2",))
    with pytest.raises(TsdsaeError, match="apt-get install fluidsynth"):
        R.find_soundfont()


def test_unknown_instrument_is_a_clear_error():
    with pytest.raises(TsdsaeError, match="unknown instrument 'kazoo'"):
        R.program_of("kazoo")


def test_silent_and_empty_clips_are_errors():
    with pytest.raises(TsdsaeError, match="silent"):
        R.fit_clip(np.zeros((100, 2)), 64000)
    with pytest.raises(TsdsaeError, match="empty"):
        R.fit_clip(np.zeros((0, 2)), 64000)


def test_fit_clip_pads_crops_and_averages():
    x = np.stack([np.ones(10), 3 * np.ones(10)], axis=1)
    y = R.fit_clip(x, 16)
    assert y.shape == (16,) and np.all(y[:10] == 1.0) and np.all(y[10:] == 0.0)
    assert R.fit_clip(np.arange(1, 101, dtype=float), 50)[-1] == 1.0


def test_parallel_rendering_equals_serial():
    labels = M.factors_of(np.arange(0, 10 * 997, 997))
    insts = ["violin", "trumpet"] * 5
    serial = dict(R.render_many(labels, insts, workers=1))
    parallel = dict(R.render_many(labels, insts, workers=2))
    for i in range(10):
        assert np.array_equal(serial[i], parallel[i])
