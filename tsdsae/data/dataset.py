"""Building, caching and loading the rendered dMelodies audio datasets (notebook 01).

:func:`build_dataset` draws the melodies of a :class:`~tsdsae.config.DataConfig`,
renders them with FluidSynth on every core, computes log-mel features and writes
one folder per distinct content: its name carries a hash of every parameter that
changes what is inside (data and feature settings, the soundfont's sha256, the
format version). A folder is built under a temporary name and renamed only when
complete, and ``manifest.json`` is written last, so a half-written cache is never
mistaken for a finished one; a second build with the same settings is a cache hit.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import torch
import torchaudio
from tqdm.auto import tqdm

from .. import __version__
from ..config import DataConfig, FeatureConfig, content_hash
from ..device import machine_description, torch_threads
from ..errors import TsdsaeError
from ..features import log_mel
from ..io import building_folder, file_sha256, write_json_atomic
from .melodies import FACTORS, factors_of, select
from .render import find_soundfont, fluidsynth_version, program_of, render_many

CACHE_ENV = "TSDSAE_CACHE"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def default_cache_dir() -> Path:
    """Where datasets live: ``$TSDSAE_CACHE`` or ``~/.cache/tsdsae``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tsdsae").expanduser()


@dataclass
class MelodyAudioDataset:
    """A rendered dataset: features, audio, labels and splits, read from its cache folder.

    ``features`` is (N, T, 80) float32 log-mel, ``audio`` (N, 64000) int16 PCM of the
    peak-normalised clips (both memory-mapped), ``melody`` the dMelodies row index,
    ``factors`` the nine factor labels, ``instrument`` the index into
    ``instrument_names``; ``train``/``val`` index the items of each split.
    """

    path: Path
    manifest: dict[str, Any]
    features: np.ndarray
    audio: np.ndarray
    melody: np.ndarray | None
    factors: np.ndarray | None
    instrument: np.ndarray
    train: np.ndarray
    val: np.ndarray
    #: held-out items of a three-way split (prepared URMP sets); empty for the dMelodies sets
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def instrument_names(self) -> list[str]:
        return list(self.manifest["data"]["instruments"])

    @property
    def has_score(self) -> bool:
        """Whether every clip has a dMelodies score (melody, factors); recordings (URMP) have none."""
        return self.factors is not None

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["data"]["sample_rate"])

    def __len__(self) -> int:
        return len(self.instrument)

    def split(self, name: str) -> np.ndarray:
        """Item indices of split ``'train'``, ``'val'`` or ``'test'``."""
        if name not in ("train", "val", "test"):
            raise TsdsaeError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return getattr(self, name)

    def waveform(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 in [-1, 1]."""
        return self.audio[i].astype(np.float32) / 32767.0

    def factor(self, name: str) -> np.ndarray:
        """Labels of one dMelodies factor (e.g. ``'rhythm_bar1'``) for every item."""
        if self.factors is None:
            raise TsdsaeError(f"{self.path} holds recordings without a score: no factor {name!r}")
        return self.factors[:, FACTORS.index(name)]

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, instrument labels) of a split as tensors, ready for a DataLoader."""
        idx = self.split(split)
        return torch.from_numpy(np.ascontiguousarray(self.features[idx])), torch.from_numpy(
            self.instrument[idx].astype(np.int64)
        )


def draw_items(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Melodies, instruments and the train/val split of ``cfg`` (seeded, deterministic).

    Draws ``n_melodies`` of the candidate melodies without replacement, gives the
    first share of the draw to the first instrument and so on (each melody in one
    instrument only), then splits the items at random into train and validation.
    """
    candidates = select(
        cfg.factors,
        bar1_starts_with_note=cfg.bar1_starts_with_note,
        bar2_ends_with_note=cfg.bar2_ends_with_note,
    )
    if cfg.n_melodies > len(candidates):
        raise TsdsaeError(
            f"data: n_melodies={cfg.n_melodies} but the chosen factors allow only "
            f"{len(candidates)} melodies"
        )
    rng = np.random.default_rng(cfg.seed)
    melody = np.sort(rng.choice(candidates, size=cfg.n_melodies, replace=False))
    rng.shuffle(melody)
    instrument = (np.arange(cfg.n_melodies) * len(cfg.instruments)) // cfg.n_melodies
    perm = rng.permutation(cfg.n_melodies)
    n_val = int(round(cfg.val_fraction * cfg.n_melodies))
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return melody, instrument, train, val


def dataset_key(data: DataConfig, features: FeatureConfig, soundfont: Path) -> str:
    """The cache key: a hash of every parameter that changes the dataset's content."""
    settings = {k: v for k, v in asdict(data).items() if k != "path"} | {"soundfont": None}
    return content_hash(settings, features, file_sha256(soundfont), FORMAT_VERSION)


def build_dataset(
    data: DataConfig | None = None,
    features: FeatureConfig | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
    rebuild: bool = False,
) -> MelodyAudioDataset:
    """Render (or find in the cache) the dataset of ``data`` and return it loaded.

    ``workers`` rendering processes (default: every core); ``rebuild=True`` ignores
    a cached copy. The folder is ``<cache_dir>/datasets/<name>-<key>``.
    """
    data, features = data or DataConfig(), features or FeatureConfig()
    data.validate()
    features.validate()
    if data.path:
        return load_prepared(data, features)
    features.check_clips(data.sample_rate, data.n_samples, "data")
    for name in data.instruments:
        program_of(name)  # an unknown instrument fails here, before any work starts
    soundfont = find_soundfont(data.soundfont)
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / "datasets" / f"{data.name}-{dataset_key(data, features, soundfont)}"
    if (final / MANIFEST).is_file() and not rebuild:
        return load_dataset(final)

    started = time.perf_counter()
    melody, instrument, train, val = draw_items(data)
    labels = factors_of(melody)
    with torch_threads(1), building_folder(final) as tmp:  # the renderers use the other cores
        audio = np.lib.format.open_memmap(tmp / "audio.npy", "w+", np.int16, (len(melody), data.n_samples))
        t0 = time.perf_counter()
        clips = render_many(
            labels, [data.instruments[k] for k in instrument], soundfont=soundfont,
            sample_rate=data.sample_rate, n_samples=data.n_samples, tempo_bpm=data.tempo_bpm,
            velocity=data.velocity, workers=workers,
        )
        feats = np.lib.format.open_memmap(
            tmp / "features.npy", "w+", np.float32,
            (len(melody), features.n_frames(data.n_samples), features.n_mels),
        )
        for i, clip in tqdm(clips, total=len(melody), desc=f"render {data.name}", disable=not progress,
                            unit="clip"):
            pcm = np.round(clip * 32767.0).astype(np.int16)  # features from what is stored
            audio[i] = pcm
            feats[i] = log_mel(pcm / np.float32(32767.0), data.sample_rate, features).numpy()
        render_s = time.perf_counter() - t0
        audio.flush()
        feats.flush()
        del audio, feats
        np.savez(tmp / "labels.npz", melody=melody, factors=labels, instrument=instrument, train=train, val=val)
        write_manifest(tmp, _manifest(data, features, soundfont, melody, instrument, train, val,
                                      render_s, time.perf_counter() - started))
    return load_dataset(final)


def load_dataset(path: str | os.PathLike) -> MelodyAudioDataset:
    """Open a finished dataset folder (one with a manifest) written by :func:`build_dataset`.

    The folder is verified first (:func:`verify_dataset`): a damaged cache is refused in one line.
    """
    path = Path(path)
    manifest = verify_dataset(path)
    lab = np.load(path / "labels.npz")
    score = manifest.get("kind", "dmelodies") == "dmelodies"
    return MelodyAudioDataset(
        path=path, manifest=manifest,
        features=np.load(path / "features.npy", mmap_mode="r"),
        audio=np.load(path / "audio.npy", mmap_mode="r"),
        melody=lab["melody"] if score else None, factors=lab["factors"] if score else None,
        instrument=lab["instrument"], train=lab["train"], val=lab["val"],
        **({"test": lab["test"]} if "test" in lab else {}),
    )


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``folder/manifest.json`` (last, atomically) with the size and sha256 of every file
    beside it and a checksum of its own content, which :func:`verify_dataset` checks."""
    files = {f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
             for f in sorted(folder.iterdir()) if f.is_file() and f.name != MANIFEST}
    manifest = {k: v for k, v in manifest.items() if k != "checksum"} | {"files": files}
    write_json_atomic(folder / MANIFEST, manifest | {"checksum": content_hash(manifest)})


_VERIFIED: dict[tuple, dict[str, Any]] = {}  # folders verified by this process, by their files' stat


def verify_dataset(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the dataset folder ``path`` once every file matches it (size and sha256) and
    the manifest matches its own checksum; a one-line error that says to rebuild otherwise.

    Contents are hashed once per process and folder state (≈ 1 s for the paper's 600 MB set).
    A folder written before manifests carried checksums gains them on its first load.
    """
    path = Path(path)
    rebuild = "rebuild it (tsdsae synth --rebuild with the same settings, or delete the folder)"
    if not (path / MANIFEST).is_file():
        raise TsdsaeError(f"{path} is not a finished tsdsae dataset (no {MANIFEST})")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TsdsaeError(f"{path / MANIFEST} is damaged: {rebuild}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise TsdsaeError(f"{path} was written by another tsdsae format version: {rebuild}")
    if "files" not in manifest:  # written before checksums: record them now (a read-only copy loads unverified)
        try:
            write_manifest(path, manifest)
        except OSError:
            return manifest
        manifest = json.loads((path / MANIFEST).read_text())
    if manifest.get("checksum") != content_hash({k: v for k, v in manifest.items() if k != "checksum"}):
        raise TsdsaeError(f"{path / MANIFEST} was changed after the build: {rebuild}")
    state = (str(path.resolve()),) + tuple(
        (name, (path / name).stat().st_size, (path / name).stat().st_mtime_ns) if (path / name).is_file() else name
        for name in sorted(manifest["files"]))
    if state in _VERIFIED:
        return _VERIFIED[state]
    for name, want in manifest["files"].items():
        f = path / name
        if not f.is_file():
            raise TsdsaeError(f"{f} is missing: {rebuild}")
        if f.stat().st_size != want["bytes"]:
            raise TsdsaeError(f"{f} has {f.stat().st_size} bytes, the build wrote {want['bytes']}: {rebuild}")
        if file_sha256(f) != want["sha256"]:
            raise TsdsaeError(f"{f} was changed after the build (checksum differs): {rebuild}")
    _VERIFIED[state] = manifest
    return manifest


def load_prepared(data: DataConfig, features: FeatureConfig) -> MelodyAudioDataset:
    """The prepared dataset folder ``data.path``, checked against the configuration that reads it."""
    ds = load_dataset(data.path)
    held = ds.manifest["data"]
    checks = {"instruments": data.instruments, "sample_rate": data.sample_rate, "n_samples": data.n_samples}
    for name, want in checks.items():
        if held.get(name) != want:
            raise TsdsaeError(f"{data.path} holds {name}={held.get(name)} but the configuration asks for {want}")
    if ds.manifest.get("features") != asdict(features):
        raise TsdsaeError(f"{data.path} was computed with other feature settings than the configuration's")
    return ds


def _manifest(data, features, soundfont, melody, instrument, train, val, render_s, total_s) -> dict:
    names = data.instruments
    counts = {
        split: {names[k]: int(np.sum(instrument[idx] == k)) for k in range(len(names))}
        for split, idx in (("train", train), ("val", val))
    }
    return {
        "format_version": FORMAT_VERSION,
        "data": asdict(data),
        "features": asdict(features),
        "soundfont": {"path": str(soundfont), "sha256": file_sha256(soundfont)},
        "counts": {"items": int(len(melody)), **counts},
        "splits": {"train": train.tolist(), "val": val.tolist()},
        "versions": {
            "tsdsae": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "torchaudio": torchaudio.__version__,
            "pretty_midi": pretty_midi.__version__, "fluidsynth": fluidsynth_version(),
        },
        "build": {
            "render_and_features_s": round(render_s, 2), "total_s": round(total_s, 2),
            "machine": machine_description(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "licence": "dMelodies factors (Pati et al., ISMIR 2020) are CC BY-NC-SA 4.0",
    }
