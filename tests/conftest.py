"""Shared fixtures: a small real dataset rendered once per test session."""

from __future__ import annotations

import pytest

from tsdsae.config import DataConfig, FeatureConfig
from tsdsae.data import build_dataset


@pytest.fixture(scope="session")
def small_config() -> DataConfig:
    """The paper's instrument set, shrunk to 24 melodies."""
    return DataConfig(name="test-small", n_melodies=24)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, small_config):
    """24 clips rendered with FluidSynth into a session-wide temporary cache."""
    cache = tmp_path_factory.mktemp("cache")
    return build_dataset(small_config, FeatureConfig(), cache_dir=cache, workers=2, progress=False)
