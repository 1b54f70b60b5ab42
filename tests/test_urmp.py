"""urmp-prepare on a URMP-shaped fixture rendered with FluidSynth at 48 kHz (tests/urmp_fixture.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from urmp_fixture import EXPECTED, LAYOUT, RATE, render_urmp_fixture

from tsdsae.cli import main
from tsdsae.config import DataConfig, UrmpConfig, load_preset
from tsdsae.data import build_dataset
from tsdsae.data.urmp import find_tracks, prepare_urmp, read_track
from tsdsae.errors import TsdsaeError
from tsdsae.training import train

TINY = UrmpConfig(crepe_model="tiny")  # the real CREPE weights, the small model (the paper's is "full")


@pytest.fixture(scope="module")
def urmp_root(tmp_path_factory):
    return render_urmp_fixture(tmp_path_factory.mktemp("URMP"))


@pytest.fixture(scope="module")
def prepared(urmp_root, tmp_path_factory):
    return prepare_urmp(urmp_root, TINY, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_prepare_follows_the_recipe(prepared):
    m = prepared.manifest
    assert m["kind"] == "urmp" and not prepared.has_score
    assert prepared.instrument_names == ["violin", "trumpet"]  # the cello track is left out
    for name, want in EXPECTED.items():
        got = m["urmp"]["per_instrument"][name]
        assert (got["segments"], got["kept"]) == (want["segments"], want["kept"]), name
    n = sum(w["kept"] for w in EXPECTED.values())
    assert prepared.features.shape == (n, 251, 80) and prepared.audio.shape == (n, 64000)
    lab = np.load(prepared.path / "labels.npz")
    assert (lab["confidence"] > TINY.min_confidence).all()
    splits = [prepared.split(s) for s in ("train", "val", "test")]
    assert sorted(np.concatenate(splits).tolist()) == list(range(n)) and all(len(s) for s in splits[:2])
    for k in range(2):  # the kept segments of each instrument share one peak of 1
        peak = np.abs(prepared.audio[prepared.instrument == k].astype(np.float32)).max() / 32767
        assert peak == pytest.approx(1.0, abs=1e-4)


def test_only_the_left_channel_is_read(prepared, urmp_root):
    lab = np.load(prepared.path / "labels.npz")
    tracks = prepared.manifest["urmp"]["tracks"]
    stereo = tracks.index("02_Sonata_vn_tpt/" + LAYOUT["02_Sonata_vn_tpt"][0][0])
    item = int(np.flatnonzero(lab["track"] == stereo)[0])
    audio, _ = sf.read(urmp_root / tracks[stereo], dtype="float32")
    start = int(lab["start_s"][item] * RATE)
    left = torchaudio.functional.resample(torch.from_numpy(audio[start:start + 4 * RATE, 0]), RATE, 16000).numpy()
    clip = prepared.waveform(item)
    assert np.corrcoef(left, clip)[0, 1] > 0.99


def test_second_prepare_is_a_cache_hit(urmp_root, prepared):
    stamp = (prepared.path / "manifest.json").stat().st_mtime_ns
    again = prepare_urmp(urmp_root, TINY, cache_dir=prepared.path.parent.parent, progress=False)
    assert again.path == prepared.path and (again.path / "manifest.json").stat().st_mtime_ns == stamp


def test_a_model_trains_on_the_prepared_set(prepared, tmp_path):
    cfg = load_preset("quick")
    cfg.data = DataConfig(name="urmp", path=str(prepared.path), instruments=prepared.instrument_names)
    cfg.train.stage1_epochs, cfg.train.max_epochs = 1, 2
    assert build_dataset(cfg.data, cfg.features).path == prepared.path
    res = train(cfg.validate(), tmp_path / "run", progress=False)
    assert res.epochs == 2 and np.isfinite(res.best_val_loss)


def test_a_prepared_set_that_contradicts_the_configuration_is_refused(prepared):
    with pytest.raises(TsdsaeError, match="instruments"):
        build_dataset(DataConfig(path=str(prepared.path), instruments=["violin", "cello"]))


def test_folders_that_are_not_urmp_are_refused(tmp_path, urmp_root):
    (tmp_path / "songs").mkdir()
    sf.write(tmp_path / "songs" / "song.wav", np.zeros(RATE, np.float32), RATE)
    with pytest.raises(TsdsaeError, match="not a URMP folder"):
        find_tracks(tmp_path / "songs", ["vn", "tpt"])
    with pytest.raises(TsdsaeError, match="not found"):
        find_tracks(tmp_path / "missing", ["vn", "tpt"])
    with pytest.raises(TsdsaeError, match=r"holds no flute \(fl\) track; it has tpt, vc, vn"):
        find_tracks(urmp_root, ["fl"])
    with pytest.raises(TsdsaeError, match="unknown URMP instrument"):
        find_tracks(urmp_root, ["kazoo"])


def test_a_cello_only_folder_names_what_is_missing(tmp_path, urmp_root):
    piece = tmp_path / "01_Jupiter_vc"
    piece.mkdir()
    sf.write(piece / "AuSep_1_vc_01_Jupiter.wav", np.zeros(RATE, np.float32), RATE)
    with pytest.raises(TsdsaeError, match=r"holds no violin \(vn\) or trumpet \(tpt\) track; it has vc"):
        find_tracks(tmp_path, ["vn", "tpt"])


def test_bad_tracks_get_one_line_errors(tmp_path):
    nan = tmp_path / "AuSep_1_vn_01_X.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], np.float32), RATE, subtype="FLOAT")
    with pytest.raises(TsdsaeError, match="NaN"):
        read_track(nan, 16000)
    empty = tmp_path / "AuSep_2_vn_01_X.wav"
    sf.write(empty, np.zeros(0, np.float32), RATE)
    with pytest.raises(TsdsaeError, match="empty"):
        read_track(empty, 16000)
    silent = tmp_path / "silent"
    (silent / "01_X").mkdir(parents=True)
    sf.write(silent / "01_X" / "AuSep_1_vn_01_X.wav", np.zeros(5 * RATE, np.float32), RATE)
    with pytest.raises(TsdsaeError, match="silent"):
        prepare_urmp(silent, TINY, cache_dir=tmp_path / "cache", progress=False)


def test_cli_prepares_and_refuses(urmp_root, tmp_path, capsys):
    assert main(["urmp-prepare", str(tmp_path), "--no-progress"]) == 2
    assert "not a URMP folder" in capsys.readouterr().err
    out = tmp_path / "prepared"
    assert main(["urmp-prepare", str(urmp_root), "--crepe-model", "tiny", "--out", str(out), "--no-progress"]) == 0
    assert (out / "manifest.json").is_file() and '"kept": 5' in capsys.readouterr().out
