"""Presets, quick mode and contradictory settings."""

import pytest

from tsdsae.config import QUICK_N_MELODIES, Config, DataConfig, load_preset
from tsdsae.errors import TsdsaeError


def test_paper_preset_is_the_spec(monkeypatch):
    monkeypatch.delenv("TSDSAE_QUICK", raising=False)
    cfg = load_preset("paper")
    assert cfg.data.n_melodies == 3000 and cfg.data.instruments == ["violin", "trumpet"]
    assert cfg.data.factors == {"tonic": ["C"], "octave": [4], "scale": ["major"]}
    f = cfg.features
    assert (f.n_fft, f.hop_length, f.n_mels, f.f_max, f.mel_scale, f.log_eps) == (
        2048, 256, 80, 8000.0, "htk", 2.2e-16)
    assert not cfg.quick


def test_quick_switch_only_shrinks(monkeypatch):
    monkeypatch.setenv("TSDSAE_QUICK", "1")
    quick = load_preset("paper")
    monkeypatch.delenv("TSDSAE_QUICK")
    full = load_preset("paper")
    assert quick.quick and quick.data.n_melodies == QUICK_N_MELODIES
    quick.data.n_melodies = full.data.n_melodies
    assert quick.features == full.features and quick.data == full.data


def test_unknown_preset():
    with pytest.raises(TsdsaeError, match="unknown preset 'fast'"):
        load_preset("fast")


@pytest.mark.parametrize("data, word", [
    (DataConfig(val_fraction=1.5), "val_fraction"),
    (DataConfig(instruments=[]), "instrument"),
    (DataConfig(instruments=["violin", "violin"]), "repeat"),
    (DataConfig(velocity=0), "velocity"),
])
def test_contradictions_are_one_line_errors(data, word):
    with pytest.raises(TsdsaeError, match=word):
        Config(data=data).validate()


def test_round_trip_and_unknown_fields():
    cfg = load_preset("paper-octave", quick=False)
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(TsdsaeError, match="unknown or missing field"):
        Config.from_dict({"data": {"colour": "red"}})
