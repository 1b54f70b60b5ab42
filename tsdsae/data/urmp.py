"""Real recordings: URMP's separated tracks as 4-s training clips (``tsdsae urmp-prepare``; notebook 07).

URMP (Li et al., IEEE TMM 2019) ships one folder per piece holding separated
tracks ``AuSep_<k>_<inst>_<NN>_<Piece>.wav`` at 48 kHz (violin is ``vn``,
trumpet ``tpt``). :func:`prepare_urmp` follows the paper (protocol §1.4, after Hayes
et al. 2021), per instrument:

1. the left channel of every track, divided by the instrument's corpus-wide peak;
2. resampled to 16 kHz and cut into non-overlapping 4-s segments (the tail is dropped);
3. a segment is kept when its mean CREPE confidence exceeds 0.85 (the full model);
4. the kept segments are divided by their common peak again.

Then all kept segments are split at random, segment by segment, 80/10/10 into
train, validation and test, their log-mel features computed, and everything is
written as a dataset folder that :func:`~tsdsae.data.dataset.load_dataset` opens
(and ``DataConfig(path=...)`` trains on). The folder is built under a temporary
name and renamed when complete; a second run with the same tracks and settings
is a cache hit. No URMP audio belongs in this repository.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import torchaudio
from tqdm.auto import tqdm

from .. import __version__
from ..config import FeatureConfig, UrmpConfig, content_hash
from ..device import machine_description
from ..errors import TsdsaeError
from ..features import log_mel
from ..io import building_folder
from .dataset import FORMAT_VERSION, MANIFEST, MelodyAudioDataset, default_cache_dir, load_dataset, write_manifest

#: URMP's instrument codes and the names the library uses for them.
URMP_CODES = {
    "vn": "violin", "va": "viola", "vc": "cello", "db": "contrabass", "fl": "flute", "ob": "oboe",
    "cl": "clarinet", "bn": "bassoon", "sax": "saxophone", "tpt": "trumpet", "hn": "french horn",
    "tbn": "trombone", "tba": "tuba",
}
TRACK = re.compile(r"^AuSep_(?P<part>\d+)_(?P<inst>[a-z]+)_(?P<piece>\d+)_(?P<name>.+)\.wav$")


def find_tracks(root: str | os.PathLike, instruments: list[str]) -> dict[str, list[Path]]:
    """The separated tracks under ``root`` of each instrument code, sorted; one-line errors if none."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TsdsaeError(f"URMP folder not found: {root}")
    unknown = [c for c in instruments if c not in URMP_CODES]
    if unknown:
        raise TsdsaeError(f"unknown URMP instrument code(s) {', '.join(unknown)}: choose from {', '.join(URMP_CODES)}")
    found: dict[str, list[Path]] = {}
    for path in sorted(root.glob("*/AuSep_*.wav")) + sorted(root.glob("AuSep_*.wav")):
        m = TRACK.match(path.name)
        if m:
            found.setdefault(m["inst"], []).append(path)
    if not found:
        raise TsdsaeError(f"{root} is not a URMP folder: no separated tracks AuSep_<k>_<inst>_<NN>_<Piece>.wav "
                          "in it or in its piece folders")
    tracks = {c: found[c] for c in instruments if c in found}
    if not tracks:
        wanted = " or ".join(f"{URMP_CODES[c]} ({c})" for c in instruments)
        raise TsdsaeError(f"{root} holds no {wanted} track; it has {', '.join(sorted(found))}")
    return tracks


def read_track(path: Path, sample_rate: int) -> np.ndarray:
    """The left channel of a track, resampled to ``sample_rate``, as float32; one-line errors."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise TsdsaeError(f"cannot read {path}: {e}") from None
    left = audio[:, 0]
    if left.size == 0:
        raise TsdsaeError(f"{path} is empty")
    if not np.isfinite(left).all():
        raise TsdsaeError(f"{path} holds NaN or infinite samples")
    if rate != sample_rate:
        left = torchaudio.functional.resample(torch.from_numpy(left), rate, sample_rate).numpy()
    return left


def segment(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """Non-overlapping segments (n, n_samples) of ``audio``; the tail is dropped."""
    n = len(audio) // n_samples
    return audio[: n * n_samples].reshape(n, n_samples)


def mean_confidence(segments: np.ndarray, sample_rate: int, model: str, *, seed: int = 0,
                    progress: bool = False) -> np.ndarray:
    """Mean CREPE confidence (peak activation, 10-ms hop, 50–2006 Hz) of each segment."""
    from ..crepe import crepe_tracks

    if len(segments) == 0:
        return np.zeros(0)
    _, confidence = crepe_tracks(segments, sample_rate, model=model, fmin=50.0, fmax=2006.0, decoder="argmax",
                                 seed=seed, progress=progress)
    return confidence.mean(axis=1)


def prepare_urmp(root: str | os.PathLike, cfg: UrmpConfig | None = None, features: FeatureConfig | None = None,
                 *, out: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 rebuild: bool = False, progress: bool = True) -> MelodyAudioDataset:
    """Prepare the URMP copy at ``root`` (protocol §1.4) and return it as a dataset.

    The folder is ``out`` if given, else ``<cache_dir>/datasets/urmp-<key>`` where the key
    hashes the settings and the tracks' names and sizes.
    """
    cfg, features = cfg or UrmpConfig(), features or FeatureConfig()
    cfg.validate()
    features.validate()
    features.check_clips(cfg.sample_rate, cfg.n_samples, "urmp")
    root = Path(root).expanduser()
    tracks = find_tracks(root, cfg.instruments)
    listing = [(str(p.relative_to(root)), p.stat().st_size) for paths in tracks.values() for p in paths]
    final = Path(out) if out else (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "datasets" / (
        "urmp-" + content_hash(asdict(cfg), features, listing, FORMAT_VERSION))
    if (final / MANIFEST).is_file() and not rebuild:
        return load_dataset(final)

    started = time.perf_counter()
    clips, info, per_instrument = _confident_segments(root, tracks, cfg, progress)
    track_names = [str(p.relative_to(root)) for paths in tracks.values() for p in paths]
    split = _split(len(clips), cfg)
    names = [URMP_CODES[c] for c in tracks]

    with building_folder(final) as tmp:
        pcm = np.round(clips * 32767.0).astype(np.int16)
        np.save(tmp / "audio.npy", pcm)
        feats = np.lib.format.open_memmap(tmp / "features.npy", "w+", np.float32,
                                          (len(pcm), features.n_frames(cfg.n_samples), features.n_mels))
        for start in tqdm(range(0, len(pcm), 64), desc="log-mel", disable=not progress):
            feats[start:start + 64] = log_mel(pcm[start:start + 64] / np.float32(32767.0), cfg.sample_rate,
                                              features).numpy()
        feats.flush()
        del feats
        np.savez(tmp / "labels.npz", instrument=np.asarray(info["instrument"]), track=np.asarray(info["track"]),
                 start_s=np.asarray(info["start_s"]), confidence=np.asarray(info["confidence"]), **split)
        write_manifest(tmp, _manifest(root, cfg, features, names, per_instrument, track_names,
                                      info["instrument"], split, time.perf_counter() - started))
    return load_dataset(final)


def _confident_segments(root: Path, tracks: dict[str, list[Path]], cfg: UrmpConfig, progress: bool
                        ) -> tuple[np.ndarray, dict[str, list], dict[str, dict[str, Any]]]:
    """Steps 1–4 of :func:`prepare_urmp` per instrument: the kept clips, where each came from
    (instrument, track index, start, confidence) and per-instrument counts."""
    kept: list[np.ndarray] = []
    info: dict[str, list] = {"instrument": [], "track": [], "start_s": [], "confidence": []}
    per_instrument: dict[str, dict[str, Any]] = {}
    first_track = 0  # index into track_names of the current instrument's first track
    for k, (code, paths) in enumerate(tracks.items()):
        audio = [read_track(p, cfg.sample_rate) for p in tqdm(paths, desc=f"read {code}", disable=not progress)]
        peak = max(float(np.abs(a).max()) for a in audio)
        if peak == 0.0:
            raise TsdsaeError(f"every {URMP_CODES[code]} ({code}) track under {root} is silent")
        segs, origin = [], []
        for t, a in enumerate(audio):
            s = segment(a / peak, cfg.n_samples)
            segs.append(s)
            origin += [(first_track + t, n * cfg.n_samples / cfg.sample_rate) for n in range(len(s))]
        first_track += len(paths)
        segs = np.concatenate(segs) if segs else np.zeros((0, cfg.n_samples), np.float32)
        conf = mean_confidence(segs, cfg.sample_rate, cfg.crepe_model, seed=cfg.seed, progress=progress)
        keep = conf > cfg.min_confidence
        per_instrument[URMP_CODES[code]] = {"code": code, "tracks": len(paths), "segments": int(len(segs)),
                                            "kept": int(keep.sum()), "corpus_peak": peak}
        if keep.any():
            chosen = segs[keep]
            kept.append(chosen / np.abs(chosen).max())  # the kept segments' common peak
            info["instrument"] += [k] * int(keep.sum())
            info["track"] += [origin[n][0] for n in np.flatnonzero(keep)]
            info["start_s"] += [origin[n][1] for n in np.flatnonzero(keep)]
            info["confidence"] += conf[keep].tolist()
    if not kept:
        raise TsdsaeError(f"no segment of {root} passed the CREPE confidence filter (> {cfg.min_confidence})")
    return np.concatenate(kept), info, per_instrument


def _split(n: int, cfg: UrmpConfig) -> dict[str, np.ndarray]:
    perm = np.random.default_rng(cfg.seed).permutation(n)
    n_train = int(round(cfg.split[0] * n))
    n_val = int(round(cfg.split[1] * n))
    parts = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    if len(parts["val"]) == 0 or len(parts["train"]) == 0:
        raise TsdsaeError(f"only {n} segments passed the filter: too few for a train/validation split")
    return {k: np.sort(v) for k, v in parts.items()}


def _manifest(root, cfg, features, names, per_instrument, track_names, instrument, split, total_s) -> dict:
    instrument = np.asarray(instrument)
    return {
        "format_version": FORMAT_VERSION,
        "kind": "urmp",
        "data": {"name": "urmp", "instruments": names, "sample_rate": cfg.sample_rate, "n_samples": cfg.n_samples},
        "features": asdict(features),
        "urmp": {"root": str(Path(root).expanduser().resolve()), "settings": asdict(cfg),
                 "per_instrument": per_instrument, "tracks": track_names},
        "counts": {"items": int(len(instrument)),
                   **{s: {name: int(np.sum(instrument[idx] == k)) for k, name in enumerate(names)}
                      for s, idx in split.items()}},
        "splits": {s: idx.tolist() for s, idx in split.items()},
        "versions": {"tsdsae": __version__, "torch": torch.__version__, "torchaudio": torchaudio.__version__},
        "build": {"total_s": round(total_s, 2), "machine": machine_description(),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        "licence": "URMP (Li et al. 2019) is the user's own copy; it is not redistributed",
    }
