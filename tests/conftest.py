"""Shared fixtures: a small real dataset rendered once per test session."""

from __future__ import annotations

import pytest
import torch

from tsdsae.config import DataConfig, FeatureConfig
from tsdsae.data import build_dataset

# The tests' models are tiny (24 clips, batches of 8): one thread is as fast, and it does not crawl
# when another process keeps a core busy, as several threads waiting on each other do (a test of
# 300 small steps took 76 s with one thread and 176 s with two beside two training runs on 2 cores).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_config() -> DataConfig:
    """The paper's instrument set, shrunk to 24 melodies."""
    return DataConfig(name="test-small", n_melodies=24)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory, small_config):
    """24 clips rendered with FluidSynth into a session-wide temporary cache."""
    cache = tmp_path_factory.mktemp("cache")
    return build_dataset(small_config, FeatureConfig(), cache_dir=cache, workers=2, progress=False)
