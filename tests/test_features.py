"""The log-mel front end against an independent computation (protocol §1.3)."""

import librosa
import numpy as np
import pytest
import torch

from tsdsae.config import FeatureConfig
from tsdsae.errors import TsdsaeError
from tsdsae.features import log_mel


@pytest.fixture(scope="module")
def clip():
    rng = np.random.default_rng(0)
    t = np.arange(64000) / 16000
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1234.5 * t)
    x = x + 0.05 * rng.standard_normal(64000)
    return (x / np.abs(x).max()).astype(np.float32)


def test_shape_is_251_by_80(clip):
    assert tuple(log_mel(clip, 16000).shape) == (251, 80)
    assert FeatureConfig().n_frames(64000) == 251


def test_equals_librosa_htk_mel(clip):
    ours = log_mel(clip, 16000).numpy()
    power = librosa.feature.melspectrogram(
        y=clip.astype(np.float64), sr=16000, n_fft=2048, hop_length=256, win_length=2048,
        window="hann", center=True, pad_mode="reflect", power=2.0, n_mels=80, fmin=0.0,
        fmax=8000.0, htk=True, norm=None,
    )
    ref = np.log(power + 2.2e-16).T
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=0)


def test_batches_equal_single_clips(clip):
    batch = np.stack([clip, clip[::-1].copy()])
    out = log_mel(batch, 16000)
    assert tuple(out.shape) == (2, 251, 80)
    torch.testing.assert_close(out[1], log_mel(batch[1], 16000))


def test_dataset_features_equal_a_fresh_computation(small_dataset):
    i = 3
    fresh = log_mel(small_dataset.waveform(i), 16000).numpy()
    np.testing.assert_allclose(small_dataset.features[i], fresh, atol=1e-5)


@pytest.mark.parametrize("audio, rate, word", [
    (np.ones(64000, np.float32), 44100, "44100 Hz"),
    (np.zeros(0, np.float32), 16000, "empty"),
    (np.full(64000, np.nan, np.float32), 16000, "NaN"),
    (np.zeros(64000, np.float32), 16000, "silent"),
])
def test_bad_audio_is_a_one_line_error(audio, rate, word):
    with pytest.raises(TsdsaeError, match=word) as e:
        log_mel(audio, rate)
    assert "\n" not in str(e.value)
