"""Dataset building, caching, manifests and interrupted builds."""

import json

import numpy as np
import pytest

from tsdsae.config import DataConfig, FeatureConfig
from tsdsae.data import build_dataset, load_dataset
from tsdsae.data import dataset as D
from tsdsae.data.render import MUSESCORE_LITE
from tsdsae.errors import TsdsaeError
from tsdsae.io import file_sha256


def test_contents_and_manifest(small_dataset):
    ds = small_dataset
    assert len(ds) == 24
    assert ds.features.shape == (24, 251, 80) and ds.features.dtype == np.float32
    assert ds.audio.shape == (24, 64000) and ds.audio.dtype == np.int16
    assert np.abs(ds.audio).max(axis=1).min() == 32767  # every clip peak-normalised
    assert np.bincount(ds.instrument).tolist() == [12, 12]
    assert len(ds.train) + len(ds.val) == 24 and not set(ds.train) & set(ds.val)
    m = json.loads((ds.path / "manifest.json").read_text())
    assert m["soundfont"]["sha256"] == file_sha256(MUSESCORE_LITE)
    assert m["counts"]["items"] == 24
    assert m["splits"]["val"] == ds.val.tolist()
    assert {"torch", "torchaudio", "fluidsynth", "numpy"} <= set(m["versions"])
    assert (ds.factors[:, :3] == 0).all()  # C, octave 4, major
    x, y = ds.tensors("train")
    assert tuple(x.shape) == (len(ds.train), 251, 80) and y.dtype.is_floating_point is False


def test_second_build_is_a_cache_hit(small_dataset, small_config, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a cache hit must not render")

    monkeypatch.setattr(D, "render_many", boom)
    again = build_dataset(small_config, FeatureConfig(), cache_dir=small_dataset.path.parents[1],
                          progress=False)
    assert again.path == small_dataset.path


def test_any_content_parameter_changes_the_key():
    sf = MUSESCORE_LITE
    base = D.dataset_key(DataConfig(), FeatureConfig(), sf)
    assert D.dataset_key(DataConfig(seed=1), FeatureConfig(), sf) != base
    assert D.dataset_key(DataConfig(instruments=["trumpet", "violin"]), FeatureConfig(), sf) != base
    assert D.dataset_key(DataConfig(), FeatureConfig(n_mels=64), sf) != base
    assert D.dataset_key(DataConfig(), FeatureConfig(), sf) == base


def test_interrupted_build_leaves_nothing_that_looks_finished(tmp_path, monkeypatch):
    cfg = DataConfig(name="interrupted", n_melodies=12)
    real = D.render_many

    def dies_half_way(*args, **kwargs):
        for k, item in enumerate(real(*args, **kwargs)):
            if k == 5:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(D, "render_many", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(cfg, cache_dir=tmp_path, workers=1, progress=False)
    assert list((tmp_path / "datasets").iterdir()) == []
    monkeypatch.setattr(D, "render_many", real)
    ds = build_dataset(cfg, cache_dir=tmp_path, workers=1, progress=False)
    assert len(ds) == 12


def test_a_killed_builds_leftovers_are_ignored_and_cleaned(tmp_path):
    cfg = DataConfig(name="killed", n_melodies=8)
    key = D.dataset_key(cfg, FeatureConfig(), MUSESCORE_LITE)
    final = tmp_path / "datasets" / f"killed-{key}"
    leftover = final.with_name(f"{final.name}.partial-999999999")
    leftover.mkdir(parents=True)
    (leftover / "manifest.json").write_text("{}")  # even a manifest inside does not count
    ds = build_dataset(cfg, cache_dir=tmp_path, workers=1, progress=False)
    assert ds.path == final and not leftover.exists()


def test_rebuild_replaces(tmp_path):
    cfg = DataConfig(name="rebuild", n_melodies=8)
    a = build_dataset(cfg, cache_dir=tmp_path, workers=1, progress=False)
    created = a.manifest["build"]["created"]
    b = build_dataset(cfg, cache_dir=tmp_path, workers=1, progress=False, rebuild=True)
    assert b.path == a.path and np.array_equal(np.asarray(a.audio), np.asarray(b.audio))
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == [a.path.name]
    assert created  # both manifests carry their creation time


def test_load_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    with pytest.raises(TsdsaeError, match="not a finished tsdsae dataset"):
        load_dataset(tmp_path)


def test_mismatched_sample_rates_are_refused():
    with pytest.raises(TsdsaeError, match="22050 Hz"):
        build_dataset(DataConfig(sample_rate=22050, n_samples=88200), FeatureConfig(), progress=False)
