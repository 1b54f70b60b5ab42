"""Typed configuration and the named presets (``paper``, ``cpu``, ``quick`` and the extensions').

Every number of the protocol (book/protocol.md) is a field here, never a literal in code.
:func:`load_preset` is the one way to get a configuration; it also applies the
**quick mode** switch: with the environment variable ``TSDSAE_QUICK=1`` any
preset shrinks its data (and, later, its epochs) so that CI and ``pytest
--nbmake`` run the same code path in minutes. Taught in notebook 01.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import TsdsaeError

QUICK_ENV = "TSDSAE_QUICK"


#: seeds are non-negative integers below 2**63 (what torch and NumPy both accept)
MAX_SEED = 2**63 - 1


def check_seed(seed: int, where: str) -> None:
    """A one-line error unless ``seed`` is an integer in [0, 2**63)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise TsdsaeError(f"{where}: seed must be an integer from 0 to 2**63 - 1, got {seed!r}")


def quick_mode() -> bool:
    """True when the quick-mode switch ``TSDSAE_QUICK`` is set to a true value."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class DataConfig:
    """Which dMelodies melodies are rendered, how, and how they are split (protocol §1)."""

    name: str = "instrument"
    #: factor name -> allowed values (readable, e.g. ``{"octave": [4, 5]}``); others vary freely.
    factors: dict[str, list] = field(
        default_factory=lambda: {"tonic": ["C"], "octave": [4], "scale": ["major"]}
    )
    bar1_starts_with_note: bool = True
    bar2_ends_with_note: bool = True
    n_melodies: int = 3000
    instruments: list[str] = field(default_factory=lambda: ["violin", "trumpet"])
    val_fraction: float = 0.2
    seed: int = 888
    sample_rate: int = 16000
    n_samples: int = 64000
    tempo_bpm: float = 120.0
    velocity: int = 90
    #: soundfont file; None means: discover it (see tsdsae.data.render.find_soundfont).
    soundfont: str | None = None
    #: a prepared dataset folder (e.g. from ``tsdsae urmp-prepare``): loaded instead of rendering.
    path: str | None = None

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` if the settings contradict each other."""
        if self.n_melodies < len(self.instruments) or not self.instruments:
            raise TsdsaeError(
                f"data: n_melodies={self.n_melodies} must be at least the number of "
                f"instruments ({len(self.instruments)}), and there must be one instrument"
            )
        if len(set(self.instruments)) != len(self.instruments):
            raise TsdsaeError(f"data: instruments repeat: {self.instruments}")
        if not 0.0 < self.val_fraction < 1.0:
            raise TsdsaeError(f"data: val_fraction={self.val_fraction} must lie in (0, 1)")
        if self.sample_rate <= 0 or self.n_samples <= 0 or self.tempo_bpm <= 0:
            raise TsdsaeError("data: sample_rate, n_samples and tempo_bpm must be positive")
        if not 1 <= self.velocity <= 127:
            raise TsdsaeError(f"data: velocity={self.velocity} must lie in 1..127")
        melody = round(self.melody_seconds * self.sample_rate)
        if self.path is None and self.n_samples < melody:
            raise TsdsaeError(f"data: clips of {self.n_samples} samples ({self.n_samples / self.sample_rate:g} s) "
                              f"cut the two-bar melody ({self.melody_seconds:g} s at {self.tempo_bpm:g} bpm) and "
                              f"hide its factors: use n_samples >= {melody}")

    @property
    def melody_seconds(self) -> float:
        """How long a dMelodies melody lasts: two bars of four beats at ``tempo_bpm``."""
        return 8 * 60.0 / self.tempo_bpm


@dataclass
class UrmpConfig:
    """How URMP recordings become 4-s training clips (protocol §1.4, after Hayes et al. 2021; notebook 07)."""

    #: URMP's instrument codes to keep (violin ``vn`` and trumpet ``tpt`` in the paper).
    instruments: list[str] = field(default_factory=lambda: ["vn", "tpt"])
    sample_rate: int = 16000
    n_samples: int = 64000
    #: CREPE model of the confidence filter (the paper's is "full", ≈ 1 s of CPU per second of audio).
    crepe_model: str = "full"
    #: keep a segment when its mean CREPE confidence exceeds this
    min_confidence: float = 0.85
    #: train / validation / test shares of the random segment-level split
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` if the settings contradict each other."""
        if not self.instruments or len(set(self.instruments)) != len(self.instruments):
            raise TsdsaeError(f"urmp: instruments must be distinct URMP codes, got {self.instruments}")
        if self.sample_rate <= 0 or self.n_samples <= 0:
            raise TsdsaeError("urmp: sample_rate and n_samples must be positive")
        if self.crepe_model not in ("tiny", "full"):
            raise TsdsaeError(f"urmp: crepe_model must be 'tiny' or 'full', not {self.crepe_model!r}")
        if not 0.0 <= self.min_confidence < 1.0:
            raise TsdsaeError(f"urmp: min_confidence={self.min_confidence} must lie in [0, 1)")
        if len(self.split) != 3 or min(self.split) < 0 or abs(sum(self.split) - 1.0) > 1e-6 or self.split[0] == 0:
            raise TsdsaeError(f"urmp: split must be three non-negative shares summing to 1, got {self.split}")
        check_seed(self.seed, "urmp")


@dataclass
class FeatureConfig:
    """The log-mel front end (protocol §1.3): T = 251 frames of 80 bands for 4 s at 16 kHz."""

    sample_rate: int = 16000
    n_fft: int = 2048
    hop_length: int = 256
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    mel_scale: str = "htk"
    log_eps: float = 2.2e-16

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` if the settings contradict each other."""
        if self.f_max > self.sample_rate / 2 or not 0 <= self.f_min < self.f_max:
            raise TsdsaeError(
                f"features: need 0 <= f_min < f_max <= sample_rate/2, got f_min={self.f_min}, "
                f"f_max={self.f_max}, sample_rate={self.sample_rate}"
            )
        if self.hop_length <= 0 or self.n_fft <= 0 or self.n_mels <= 0:
            raise TsdsaeError("features: n_fft, hop_length and n_mels must be positive")
        if self.mel_scale not in {"htk", "slaney"}:
            raise TsdsaeError(f"features: mel_scale must be 'htk' or 'slaney', not {self.mel_scale!r}")

    def check_clips(self, sample_rate: int, n_samples: int, part: str) -> None:
        """A one-line error (naming the config ``part``: data, urmp) for clips these features cannot
        read: another sample rate, or shorter than one analysis window."""
        if sample_rate != self.sample_rate:
            raise TsdsaeError(f"{part}: clips at {sample_rate} Hz but features expect {self.sample_rate} Hz")
        if n_samples < self.n_fft:
            raise TsdsaeError(f"{part}: clips of {n_samples} samples ({n_samples / self.sample_rate:g} s) are "
                              f"shorter than one analysis window (features n_fft = {self.n_fft} samples)")

    def n_frames(self, n_samples: int) -> int:
        """Number of centred frames for a clip of ``n_samples``."""
        return n_samples // self.hop_length + 1


ENCODERS = ("factorised", "full")
DECODERS = ("framewise", "enriched")
METHODS = ("dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae")
#: numeric paths of the training step: the paper's float32, or bfloat16 autocast (an option, not the paper's)
PRECISIONS = ("fp32", "bf16")


@dataclass
class ModelConfig:
    """Sizes and variants of the DSAE (protocol §2)."""

    x_dim: int = 80
    v_dim: int = 16
    z_dim: int = 16
    hidden: int = 64
    lstm_layers: int = 2
    prior_hidden: int = 32
    prior_layers: int = 2
    encoder: str = "factorised"
    decoder: str = "framewise"

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` for impossible sizes or unknown variants."""
        for name in ("x_dim", "v_dim", "z_dim", "hidden", "lstm_layers", "prior_hidden", "prior_layers"):
            if getattr(self, name) <= 0:
                raise TsdsaeError(f"model: {name} must be positive, got {getattr(self, name)}")
        if self.encoder not in ENCODERS:
            raise TsdsaeError(f"model: unknown encoder {self.encoder!r}: choose {' or '.join(ENCODERS)}")
        if self.decoder not in DECODERS:
            raise TsdsaeError(f"model: unknown decoder {self.decoder!r}: choose {' or '.join(DECODERS)}")


@dataclass
class TrainConfig:
    """Optimisation and schedule (protocol §3). ``stage1_epochs`` is the paper's C."""

    method: str = "ts-dsae"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 128
    stage1_epochs: int = 300
    max_epochs: int = 4000
    patience: int = 300
    seed: int = 831
    #: the authors draw one batch order (seed 42) and reuse it every epoch; True reshuffles.
    reshuffle: bool = False
    batch_order_seed: int = 42
    #: the authors' later code feeds z = 0 to the decoder in stage 1; published code samples z.
    stage1_zero_z: bool = False
    #: "fp32" (the paper's maths) or "bf16": the training step's matrix products and LSTMs run under
    #: bfloat16 autocast (weights, optimiser, loss terms and validation stay float32); ≈ 1.7× faster
    #: on CPUs with AVX-512 BF16, 8–10× slower on AVX2-only ones (benchmarks/README.md; training
    #: warns there). Recorded in the run's config.
    precision: str = "fp32"

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` if the schedule contradicts itself."""
        if self.method not in METHODS:
            raise TsdsaeError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.precision not in PRECISIONS:
            raise TsdsaeError(f"train: unknown precision {self.precision!r}: choose {' or '.join(PRECISIONS)}")
        check_seed(self.seed, "train")
        check_seed(self.batch_order_seed, "train (batch order)")
        if self.max_epochs <= 0 or self.batch_size <= 0 or self.lr <= 0 or self.patience <= 0:
            raise TsdsaeError("train: max_epochs, batch_size, lr and patience must be positive")
        if self.method != "dsae" and not 0 < self.stage1_epochs < self.max_epochs:
            raise TsdsaeError(
                f"train: stage-1 length C={self.stage1_epochs} must lie strictly between 0 and "
                f"max_epochs={self.max_epochs}, or stage 2 never starts"
            )


CREPE_MODELS = ("tiny", "full")


@dataclass
class EvalConfig:
    """The evaluation (protocol §4): seeds, subset sizes and the CREPE models."""

    seed: int = 0
    #: CREPE model of the pitch evaluation: the paper's is "full" (≈ 27 s per clip on a CPU).
    crepe_model: str = "full"
    #: validation clips whose pitch is evaluated (a seeded subset; CREPE is slow).
    n_pitch_clips: int = 64
    #: validation clips resynthesised for the Fréchet Audio Distance.
    n_fad_clips: int = 100
    #: the embedding of the FAD: CREPE's (tiny or full), since VGGish cannot load offline here.
    fad_model: str = "tiny"
    #: frame hop of the FAD embedding in seconds
    fad_hop_s: float = 0.05
    griffin_lim_iters: int = 32
    #: CREPE's search range in Hz. dMelodies spans C4–D6 (262–1175 Hz); above ≈ 1.5 kHz
    #: torchcrepe's Viterbi path can lock onto the top bin on Griffin-Lim audio.
    crepe_fmin: float = 50.0
    crepe_fmax: float = 1500.0

    def validate(self) -> None:
        """Raise a one-line :class:`TsdsaeError` for unknown models or empty subsets."""
        for name in ("crepe_model", "fad_model"):
            if getattr(self, name) not in CREPE_MODELS:
                raise TsdsaeError(f"eval: {name} must be 'tiny' or 'full', not {getattr(self, name)!r}")
        if self.n_pitch_clips < 1 or self.n_fad_clips < 2 or self.griffin_lim_iters < 1 or self.fad_hop_s <= 0:
            raise TsdsaeError("eval: n_pitch_clips >= 1, n_fad_clips >= 2, griffin_lim_iters >= 1 and "
                              "fad_hop_s > 0 are needed")
        check_seed(self.seed, "eval")
        if not 0 < self.crepe_fmin < self.crepe_fmax <= 2006:
            raise TsdsaeError(f"eval: need 0 < crepe_fmin < crepe_fmax <= 2006 Hz, got "
                              f"{self.crepe_fmin}, {self.crepe_fmax}")


#: the parts of a Config that overrides may change
PARTS = ("data", "features", "model", "train", "eval")


@dataclass
class Config:
    """A whole experiment: data, features, model, training and evaluation."""

    preset: str = "paper"
    quick: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> Config:
        """Check every part and their agreement; return self."""
        self.data.validate()
        self.features.validate()
        self.model.validate()
        self.train.validate()
        self.eval.validate()
        self.features.check_clips(self.data.sample_rate, self.data.n_samples, "data")
        if self.model.x_dim != self.features.n_mels:
            raise TsdsaeError(
                f"model reads x_dim={self.model.x_dim} but the features have {self.features.n_mels} mel bands"
            )
        return self

    def override(self, changes: Mapping[str, Mapping[str, Any]]) -> Config:
        """A validated copy with ``changes`` applied: ``{part: {field: value}}``, e.g.
        ``{"train": {"max_epochs": 80}}``; ``None`` values are skipped. Unknown parts or fields
        are one-line errors. The one way presets, the command line, sweeps and the tutorial
        change a configuration."""
        cfg = copy.deepcopy(self)
        if not isinstance(changes, Mapping):
            raise TsdsaeError(f"overrides must map a part to its fields, e.g. {{train: {{max_epochs: 80}}}}, "
                              f"got {changes!r}")
        for part, values in changes.items():
            if part not in PARTS:
                raise TsdsaeError(f"overrides: unknown part {part!r}: choose one of {', '.join(PARTS)}")
            if not isinstance(values, Mapping):
                raise TsdsaeError(f"overrides: {part} must map fields to values, got {values!r}")
            target = getattr(cfg, part)
            for name, value in values.items():
                if not hasattr(target, name):
                    raise TsdsaeError(f"overrides: {part} has no field {name!r}")
                if value is not None:
                    setattr(target, name, copy.deepcopy(value))
        return cfg.validate()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the configuration."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Rebuild a configuration written by :meth:`to_dict`; unknown keys are an error."""
        try:
            train = dict(d.get("train", {}))
            if "betas" in train:
                train["betas"] = tuple(train["betas"])
            return cls(
                preset=d.get("preset", "custom"),
                quick=d.get("quick", False),
                data=DataConfig(**d.get("data", {})),
                features=FeatureConfig(**d.get("features", {})),
                model=ModelConfig(**d.get("model", {})),
                train=TrainConfig(**train),
                eval=EvalConfig(**d.get("eval", {})),
            ).validate()
        except TypeError as e:
            raise TsdsaeError(f"configuration has an unknown or missing field: {e}") from None


def content_hash(*parts: Any) -> str:
    """A short sha256 of JSON-serialisable parts (dataclasses allowed): a cache key."""
    blob = json.dumps(
        [dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p for p in parts],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: The five instruments of the harder global factor (notebook 06): two strings, two woodwinds, a brass.
FIVE_INSTRUMENTS = ["violin", "trumpet", "flute", "clarinet", "cello"]

#: The instrument + octave set of paper §6.5: the instrument set with octaves 4 and 5.
OCTAVE_SET = {"name": "instrument-octave", "factors": {"tonic": ["C"], "octave": [4, 5], "scale": ["major"]}}

#: The settings of each preset that differ from its base: ``name: (base, overrides)``. Every
#: preset is the paper's configuration plus these changes, so a reader sees at a glance what,
#: say, ``cpu`` changes (the schedule and the evaluation's cost), and nothing else.
PRESETS: dict[str, tuple[str | None, dict[str, dict[str, Any]]]] = {
    # The authors' setting (protocol §1–§4).
    "paper": (None, {}),
    # Same data, model and maths, a CPU-sized epoch budget: C = 20 and 60 epochs (the paper: 300
    # and up to 4,000): DSAE has collapsed by epoch 10 and TS-DSAE holds F1 1.0 from epoch 20 on
    # (results/cpu/README.md). Patience = max_epochs: no early stopping in so short a budget.
    # CREPE tiny and fewer clips keep an evaluation at minutes.
    "cpu": ("paper", {"train": {"stage1_epochs": 20, "max_epochs": 60, "patience": 60},
                      "eval": {"crepe_model": "tiny", "n_pitch_clips": 20, "n_fad_clips": 60}}),
    # The long CPU schedule: C = 40 and 400 epochs, chosen from two 600-epoch runs at z = 16
    # (results/cpu-long-schedule/README.md): by epoch 400 both DSAE and TS-DSAE are within 1.2× of
    # the lowest validation reconstruction they reach in 600 epochs, and DSAE shows the paper's
    # collapse (v informative, pre-swap F1 ≈ 0.9, but unused, post-global ≈ 0.1), which 60
    # epochs do not. Patience = max_epochs, as in cpu.
    "cpu-long": ("cpu", {"train": {"stage1_epochs": 40, "max_epochs": 400, "patience": 400}}),
    # CI's preset: the paper's settings shrunk by quick mode (load_preset applies it).
    "quick": ("paper", {}),
    # Two global factors (paper §6.5): the instrument set with octaves 4 and 5.
    "paper-octave": ("paper", {"data": OCTAVE_SET}),
    # Paper §6.5 / Fig. 7 on a CPU budget: that set, the enriched decoder (the paper's choice for
    # two global factors), the cpu schedule. Notebook 06.
    "cpu-octave": ("cpu", {"data": OCTAVE_SET, "model": {"decoder": "enriched"}}),
    # The same with a stage 1 of C = 40 and as many stage-2 epochs as cpu-octave (80 in all): at
    # C = 20 the octave stayed in z (results/cpu-octave/README.md), and a re-run of seed 0 with
    # C = 32 moved it to v. results/cpu-octave-c40/. Notebook 06.
    "cpu-octave-c40": ("cpu-octave", {"train": {"stage1_epochs": 40, "max_epochs": 80, "patience": 80}}),
    # The instrument set with five instruments instead of two (same 3,000 melodies, 600 per
    # instrument), the cpu schedule and model. Notebook 06.
    "cpu-five": ("cpu", {"data": {"name": "five-instruments", "instruments": FIVE_INSTRUMENTS}}),
}


def _build(name: str) -> Config:
    base, changes = PRESETS[name]
    cfg = Config() if base is None else _build(base)
    cfg = cfg.override(changes)
    cfg.preset = name
    return cfg


#: What quick mode changes, and nothing else: a small dataset and few epochs.
QUICK_N_MELODIES = 96
QUICK_EPOCHS = (10, 30)  # (C, max_epochs)
QUICK_EVAL = ("tiny", 2, 8)  # (crepe_model, n_pitch_clips, n_fad_clips)


def _shrink(cfg: Config) -> None:
    cfg.quick = True
    cfg.data.n_melodies = min(cfg.data.n_melodies, QUICK_N_MELODIES)
    cfg.train.stage1_epochs, cfg.train.max_epochs = QUICK_EPOCHS
    cfg.train.patience = min(cfg.train.patience, QUICK_EPOCHS[1])
    cfg.eval.crepe_model, cfg.eval.n_pitch_clips, cfg.eval.n_fad_clips = QUICK_EVAL


def load_preset(name: str = "paper", *, quick: bool | None = None) -> Config:
    """The named preset, shrunk when quick mode is on (``quick`` overrides the env switch)."""
    if name not in PRESETS:
        raise TsdsaeError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = _build(name)
    if name == "quick" or (quick_mode() if quick is None else quick):
        _shrink(cfg)
    return cfg.validate()
