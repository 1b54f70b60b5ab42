"""The log-mel front end of protocol §1.3 (taught in notebook 01).

A power mel spectrogram through torchaudio (n_fft 2048, hop 256, 80 HTK bands up
to 8 kHz, no filter-bank normalisation, centred reflect-padded frames), then the
natural log of (power + 2.2e-16). A 4-s clip at 16 kHz gives T = 251 frames.
Arrays are laid out (…, time, mel), the order the models read them in.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from .config import FeatureConfig
from .device import seeded
from .errors import TsdsaeError


def check_audio(audio: torch.Tensor | np.ndarray, sample_rate: int, expected_rate: int) -> torch.Tensor:
    """``audio`` as a float32 tensor, or a one-line error if it cannot be a clip we analyse."""
    if sample_rate != expected_rate:
        raise TsdsaeError(
            f"audio is at {sample_rate} Hz but the features expect {expected_rate} Hz: resample it first"
        )
    x = torch.as_tensor(audio, dtype=torch.float32)
    if x.numel() == 0 or x.shape[-1] == 0:
        raise TsdsaeError("audio is empty")
    if not torch.isfinite(x).all():
        raise TsdsaeError("audio holds NaN or infinite samples")
    silent = x.abs().amax(dim=-1) == 0
    if silent.any():
        raise TsdsaeError(f"{int(silent.sum())} clip(s) are silent (all samples zero)")
    return x


class LogMel(torch.nn.Module):
    """Waveforms (…, samples) at 16 kHz → log-power mel spectrograms (…, T, n_mels)."""

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or FeatureConfig()
        cfg.validate()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            win_length=cfg.n_fft,
            hop_length=cfg.hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            window_fn=torch.hann_window,
            power=2.0,
            center=True,
            pad_mode="reflect",
            norm=None,
            mel_scale=cfg.mel_scale,
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel of float audio already checked; use :func:`log_mel` for user input."""
        return torch.log(self.mel(audio) + self.cfg.log_eps).transpose(-1, -2)


def log_mel(
    audio: torch.Tensor | np.ndarray,
    sample_rate: int,
    cfg: FeatureConfig | None = None,
    *,
    batch_size: int = 256,
) -> torch.Tensor:
    """Log-mel spectrogram(s) (…, T, 80) of ``audio`` (…, samples) recorded at ``sample_rate``.

    Raises a one-line :class:`TsdsaeError` for a wrong sample rate, empty or silent
    audio, or NaNs. Large batches are processed in pieces of ``batch_size`` clips.
    """
    cfg = cfg or FeatureConfig()
    x = check_audio(audio, sample_rate, cfg.sample_rate)
    transform = _transform(cfg)
    with torch.no_grad():
        if x.ndim == 1:
            return transform(x)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.cat([transform(b) for b in flat.split(batch_size)])
        return out.reshape(*x.shape[:-1], *out.shape[-2:])


_TRANSFORMS: dict[str, LogMel] = {}


def _transform(cfg: FeatureConfig) -> LogMel:
    key = repr(cfg)
    if key not in _TRANSFORMS:
        _TRANSFORMS[key] = LogMel(cfg)
    return _TRANSFORMS[key]


class MelInverter(torch.nn.Module):
    """Log-mel (…, T, n_mels) → waveform: least-squares inverse mel, then Griffin-Lim (protocol §4)."""

    def __init__(self, cfg: FeatureConfig | None = None, n_iter: int = 32) -> None:
        super().__init__()
        self.cfg = cfg = cfg or FeatureConfig()
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=cfg.n_fft // 2 + 1, n_mels=cfg.n_mels, sample_rate=cfg.sample_rate,
            f_min=cfg.f_min, f_max=cfg.f_max, norm=None, mel_scale=cfg.mel_scale,
        )
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=cfg.n_fft, n_iter=n_iter, win_length=cfg.n_fft, hop_length=cfg.hop_length,
            window_fn=torch.hann_window, power=2.0,
        )

    def forward(self, features: torch.Tensor, length: int | None = None) -> torch.Tensor:
        power_mel = torch.exp(features.transpose(-1, -2))  # undo the log; the epsilon is negligible
        power = self.inverse_mel(power_mel).clamp_min(0.0)
        self.griffin_lim.length = length
        return self.griffin_lim(power)


def resynthesise(
    features: torch.Tensor | np.ndarray,
    cfg: FeatureConfig | None = None,
    *,
    n_iter: int = 32,
    seed: int = 0,
    length: int = 64000,
    batch_size: int = 32,
) -> torch.Tensor:
    """Audio (…, length) from log-mel spectrograms (…, T, n_mels), deterministic for a ``seed``.

    Used to listen to reconstructions and swaps, and for the pitch and FAD evaluations.
    Each output is peak-normalised, like the training clips.
    """
    cfg = cfg or FeatureConfig()
    feats = torch.as_tensor(features, dtype=torch.float32)
    if feats.shape[-1] != cfg.n_mels:
        raise TsdsaeError(f"resynthesis expects {cfg.n_mels} mel bands, got {feats.shape[-1]}")
    inverter = _inverter(cfg, n_iter)
    flat = feats.reshape(-1, *feats.shape[-2:])
    out = []
    with torch.no_grad(), seeded(seed):
        for b in flat.split(batch_size):
            out.append(inverter(b, length))
    audio = torch.cat(out)
    audio = audio / audio.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
    return audio.reshape(*feats.shape[:-2], audio.shape[-1])


_INVERTERS: dict[str, MelInverter] = {}


def _inverter(cfg: FeatureConfig, n_iter: int) -> MelInverter:
    key = f"{cfg!r}/{n_iter}"
    if key not in _INVERTERS:
        _INVERTERS[key] = MelInverter(cfg, n_iter)
    return _INVERTERS[key]
