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


def test_override_returns_a_validated_copy_and_names_bad_keys():
    paper = load_preset("paper", quick=False)
    longer = paper.override({"train": {"max_epochs": 800, "seed": None}})
    assert longer.train.max_epochs == 800 and longer.train.seed == paper.train.seed and paper.train.max_epochs == 4000
    for changes, word in (({"optimiser": {"lr": 1}}, "unknown part 'optimiser'"),
                          ({"train": {"speed": 2}}, "train has no field 'speed'"),
                          ({"train": 5}, "train must map fields to values"),
                          ({"train": {"stage1_epochs": 5000}}, "never starts")):
        with pytest.raises(TsdsaeError, match=word):
            paper.override(changes)


def test_every_preset_is_the_paper_plus_its_stated_changes(monkeypatch):
    from tsdsae.config import PRESETS

    monkeypatch.delenv("TSDSAE_QUICK", raising=False)
    paper = load_preset("paper").to_dict()
    for name in PRESETS:
        if name == "quick":
            continue
        cfg = load_preset(name).to_dict()
        changed = {(part, k) for part in ("data", "features", "model", "train", "eval")
                   for k in paper[part] if cfg[part][k] != paper[part][k]}
        stated, preset = set(), name
        while preset:  # the preset's own changes and those of its bases
            preset, changes = PRESETS[preset]
            stated |= {(part, k) for part, fields in changes.items() for k in fields}
        assert changed <= stated and cfg["preset"] == name, (name, changed - stated)
