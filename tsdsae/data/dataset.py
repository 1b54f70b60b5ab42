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
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import DataConfig, FeatureConfig, content_hash
from ..device import torch_threads
from ..errors import TsdsaeError
from ..features import log_mel
from ..io import pid_alive, write_json_atomic
from .melodies import FACTORS, factors_of, select
from .render import file_sha256, find_soundfont, fluidsynth_version, program_of, render_many

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
    melody: np.ndarray
    factors: np.ndarray
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
        """Whether every clip has a dMelodies score (factors, pitches); recordings have none."""
        return self.manifest.get("kind", "dmelodies") == "dmelodies"

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["data"]["sample_rate"])

    def __len__(self) -> int:
        return len(self.melody)

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
    return content_hash(settings, features, file_sha256(str(soundfont)), FORMAT_VERSION)


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
    if data.sample_rate != features.sample_rate:
        raise TsdsaeError(
            f"data renders at {data.sample_rate} Hz but features expect {features.sample_rate} Hz"
        )
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
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(final)
    tmp = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with torch_threads(1):  # the renderers use the other cores; spinning threads would slow them
        try:
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
            np.savez(tmp / "labels.npz", melody=melody, factors=labels, instrument=instrument,
                     train=train, val=val)
            manifest = _manifest(data, features, soundfont, melody, instrument, train, val,
                                 render_s, time.perf_counter() - started)
            write_json_atomic(tmp / MANIFEST, manifest)
            publish_folder(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return load_dataset(final)


def load_dataset(path: str | os.PathLike) -> MelodyAudioDataset:
    """Open a finished dataset folder (one with a manifest) written by :func:`build_dataset`."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise TsdsaeError(f"{path} is not a finished tsdsae dataset (no {MANIFEST})")
    manifest = json.loads((path / MANIFEST).read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise TsdsaeError(f"{path} was written by another tsdsae format version; rebuild it")
    lab = np.load(path / "labels.npz")
    return MelodyAudioDataset(
        path=path, manifest=manifest,
        features=np.load(path / "features.npy", mmap_mode="r"),
        audio=np.load(path / "audio.npy", mmap_mode="r"),
        melody=lab["melody"], factors=lab["factors"], instrument=lab["instrument"],
        train=lab["train"], val=lab["val"], **({"test": lab["test"]} if "test" in lab else {}),
    )


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


def publish_folder(tmp: Path, final: Path) -> None:
    """Move a finished build into place atomically, replacing an older copy if any."""
    old = None
    if final.exists():
        old = final.with_name(f"{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:  # another process published the same build in between
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_builds(final: Path) -> None:
    """Delete partial builds of ``final`` left by processes that no longer run."""
    for stale in final.parent.glob(f"{final.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _manifest(data, features, soundfont, melody, instrument, train, val, render_s, total_s) -> dict:
    import sys

    import pretty_midi
    import torchaudio

    from .. import __version__

    names = data.instruments
    counts = {
        split: {names[k]: int(np.sum(instrument[idx] == k)) for k in range(len(names))}
        for split, idx in (("train", train), ("val", val))
    }
    return {
        "format_version": FORMAT_VERSION,
        "data": asdict(data),
        "features": asdict(features),
        "soundfont": {"path": str(soundfont), "sha256": file_sha256(str(soundfont))},
        "counts": {"items": int(len(melody)), **counts},
        "splits": {"train": train.tolist(), "val": val.tolist()},
        "versions": {
            "tsdsae": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "torchaudio": torchaudio.__version__,
            "pretty_midi": pretty_midi.__version__, "fluidsynth": fluidsynth_version(),
        },
        "build": {
            "render_and_features_s": round(render_s, 2), "total_s": round(total_s, 2),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "cores": os.cpu_count(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "licence": "dMelodies factors (Pati et al., ISMIR 2020) are CC BY-NC-SA 4.0",
    }
