"""From a melody to audio: MIDI writing, soundfont discovery and FluidSynth rendering.

Rendering follows protocol §1.2 (taught in notebook 01): General MIDI at 120 bpm,
FluidSynth at 16 kHz with its default reverb, chorus and gain (as the
``fluidsynth`` command the authors used), stereo averaged to mono, cropped or
padded to exactly 64,000 samples and divided by the clip's peak. A
:class:`Renderer` loads the soundfont once and renders many clips;
:func:`render_many` spreads clips over worker processes, one soundfont load each.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pretty_midi

from ..errors import TsdsaeError
from ..io import die_with_parent
from .melodies import melody_notes

SOUNDFONT_ENV = "TSDSAE_SOUNDFONT"
MUSESCORE_LITE = Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")
SYSTEM_DEFAULT_GM = (
    Path("/usr/share/sounds/sf3/default-GM.sf3"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
)
INSTALL_HINT = (
    "install FluidSynth and a General MIDI soundfont: on Debian/Ubuntu "
    "'sudo apt-get install fluidsynth musescore-general-soundfont-small', on macOS "
    "'brew install fluid-synth' plus a .sf2/.sf3 file passed with --soundfont or "
    f"${SOUNDFONT_ENV}"
)

#: General MIDI programs (0-based) of the instruments the tutorial uses.
INSTRUMENTS: dict[str, int] = {
    "piano": 0, "vibraphone": 11, "organ": 19, "guitar": 24, "violin": 40, "viola": 41,
    "cello": 42, "contrabass": 43, "trumpet": 56, "trombone": 57, "tuba": 58,
    "french horn": 60, "saxophone": 65, "oboe": 68, "bassoon": 70, "clarinet": 71,
    "piccolo": 72, "flute": 73,
}


def program_of(instrument: str) -> int:
    """General MIDI program (0-based) of an instrument name."""
    try:
        return INSTRUMENTS[instrument.lower()]
    except KeyError:
        raise TsdsaeError(
            f"unknown instrument {instrument!r}: choose one of {', '.join(INSTRUMENTS)}"
        ) from None


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    """The soundfont to render with: ``explicit``, ``$TSDSAE_SOUNDFONT``, MuseScore General
    Lite, then the system's default General MIDI soundfont; else a clear error."""
    for given, origin in ((explicit, "the soundfont argument"),
                          (os.environ.get(SOUNDFONT_ENV), f"${SOUNDFONT_ENV}")):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise TsdsaeError(f"soundfont not found: {path} (from {origin})")
            return path
    for path in (MUSESCORE_LITE, *SYSTEM_DEFAULT_GM):
        if path.is_file():
            return path
    raise TsdsaeError(f"no soundfont found: {INSTALL_HINT}")


@lru_cache(maxsize=8)
def _fluidsynth():
    try:
        import fluidsynth
    except ImportError as e:  # pyfluidsynth raises ImportError when libfluidsynth is missing
        raise TsdsaeError(f"FluidSynth is not usable ({e}): {INSTALL_HINT}") from None
    return fluidsynth


def fluidsynth_version() -> str:
    """Version of the FluidSynth library that renders."""
    fs = _fluidsynth()
    try:
        return fs.fluid_version_str().decode()
    except Exception:  # older pyfluidsynth builds lack the binding
        return "unknown"


def _write_float(synth, out: np.ndarray) -> None:
    """Fill ``out`` (n, 2), a C-contiguous float32 block, with the synthesiser's next frames."""
    if len(out) == 0:
        return
    lib = synth_lib()
    ptr = out.ctypes.data
    if lib.fluid_synth_write_float(synth.synth, len(out), ptr, 0, 2, ptr, 1, 2) != 0:
        raise TsdsaeError("FluidSynth failed to render audio")


@lru_cache(maxsize=1)
def synth_lib():
    """The FluidSynth C library as loaded by pyfluidsynth, with write_float declared."""
    lib = _fluidsynth()._fl
    f = lib.fluid_synth_write_float
    f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                  ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    f.restype = ctypes.c_int
    vp, ci = ctypes.c_void_p, ctypes.c_int
    for name, args, res in (
        ("fluid_synth_get_sfont_by_id", [vp, ci], vp),
        ("fluid_synth_add_sfont", [vp, vp], ci),
        ("fluid_synth_remove_sfont", [vp, vp], ci),
        ("fluid_set_log_function", [ci, vp, vp], vp),
    ):
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = res
    return lib


_FLUID_WARN = 2  # fluid_log_level


def melody_midi(
    labels: Sequence[int] | np.ndarray,
    instrument: str = "violin",
    tempo_bpm: float = 120.0,
    velocity: int = 90,
) -> pretty_midi.PrettyMIDI:
    """The MIDI of one dMelodies melody: one eighth note per onset slot at ``tempo_bpm``."""
    slot_s = 60.0 / tempo_bpm / 2.0  # an eighth note
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    inst = pretty_midi.Instrument(program=program_of(instrument), name=instrument)
    for n in melody_notes(labels):
        start = n.slot * slot_s
        inst.notes.append(pretty_midi.Note(velocity, n.pitch, start, start + n.length * slot_s))
    pm.instruments.append(inst)
    return pm


def fit_clip(stereo_or_mono: np.ndarray, n_samples: int) -> np.ndarray:
    """Average channels, crop or zero-pad to ``n_samples``, divide by the peak (protocol §1.2)."""
    x = np.asarray(stereo_or_mono, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.size == 0:
        raise TsdsaeError("cannot normalise an empty clip")
    x = x[:n_samples]
    if x.size < n_samples:
        x = np.pad(x, (0, n_samples - x.size))
    peak = np.max(np.abs(x))
    if not np.isfinite(peak):
        raise TsdsaeError("rendered clip holds NaN or infinite samples")
    if peak <= 1e-8:
        raise TsdsaeError("rendered clip is silent (peak 0): check the soundfont and program")
    return (x / peak).astype(np.float32)


class Renderer:
    """FluidSynth with one soundfont, rendering MIDI offline, deterministically.

    Every clip is rendered by a fresh synthesiser, as by the ``fluidsynth -ni``
    command the authors ran once per file: a reused synthesiser carries chorus
    and reverb state from clip to clip, so a melody would sound slightly different
    depending on what came before it. The soundfont is decoded once (an .sf3 costs
    seconds) by a keeper synthesiser and lent to each fresh one, which then costs
    milliseconds. Output is read as float (no 16-bit dither); FluidSynth's defaults
    (gain 0.2, reverb and chorus on) are kept.
    """

    def __init__(self, soundfont: str | os.PathLike | None = None, sample_rate: int = 16000):
        self._fs = _fluidsynth()
        self.soundfont = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        self._keeper = self._fs.Synth(samplerate=float(self.sample_rate), channels=16)
        sfid = self._keeper.sfload(str(self.soundfont))
        if sfid < 0:
            self.close()
            raise TsdsaeError(f"FluidSynth could not load the soundfont {self.soundfont}")
        self._sfont = synth_lib().fluid_synth_get_sfont_by_id(self._keeper.synth, sfid)

    def close(self) -> None:
        """Free the keeper synthesiser and with it the soundfont."""
        if getattr(self, "_keeper", None) is not None:
            self._keeper.delete()
            self._keeper = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def render_midi(self, pm: pretty_midi.PrettyMIDI, n_samples: int) -> np.ndarray:
        """Render ``pm`` to ``n_samples`` of stereo float32 audio, shape (n_samples, 2)."""
        if self._keeper is None:
            raise TsdsaeError("this Renderer has been closed")
        events = []  # (sample, is_on, channel, pitch, velocity): note-offs sort first
        for ch, inst in enumerate(pm.instruments):
            if inst.is_drum or ch >= 16:
                raise TsdsaeError("the renderer takes at most 16 melodic (non-drum) tracks")
            for note in inst.notes:
                events.append((round(note.start * self.sample_rate), 1, ch, note.pitch, note.velocity))
                events.append((round(note.end * self.sample_rate), 0, ch, note.pitch, 0))
        events.sort()
        lib = synth_lib()
        synth = self._fs.Synth(samplerate=float(self.sample_rate), channels=16)
        sfid = lib.fluid_synth_add_sfont(synth.synth, self._sfont)
        try:
            for ch, inst in enumerate(pm.instruments):
                synth.program_select(ch, sfid, 0, inst.program)
            out = np.zeros((n_samples, 2), dtype=np.float32)
            t = 0
            for when, is_on, ch, pitch, vel in events:
                if when >= n_samples:
                    break
                _write_float(synth, out[t:when])
                t = max(t, when)
                if is_on:
                    synth.noteon(ch, pitch, vel)
                else:
                    synth.noteoff(ch, pitch)
            _write_float(synth, out[t:])
        finally:
            # Hand the soundfont back before deleting the borrower (which would free it);
            # removal resets the channels, whose "no preset" warnings are muted.
            previous = lib.fluid_set_log_function(_FLUID_WARN, None, None)
            lib.fluid_synth_remove_sfont(synth.synth, self._sfont)
            lib.fluid_set_log_function(_FLUID_WARN, previous, None)
            synth.delete()
        return out

    def render_melody(
        self,
        labels: Sequence[int] | np.ndarray,
        instrument: str,
        *,
        n_samples: int = 64000,
        tempo_bpm: float = 120.0,
        velocity: int = 90,
    ) -> np.ndarray:
        """One dMelodies melody as a mono, peak-normalised float32 clip of ``n_samples``."""
        pm = melody_midi(labels, instrument, tempo_bpm, velocity)
        return fit_clip(self.render_midi(pm, n_samples), n_samples)


# --- parallel rendering: one Renderer per worker process ------------------------------

_WORKER: dict = {}


def _init_worker(parent: int, soundfont: str, sample_rate: int, settings: dict) -> None:
    die_with_parent(parent)
    _WORKER["renderer"] = Renderer(soundfont, sample_rate)
    _WORKER["settings"] = settings


def _render_job(job: tuple[int, np.ndarray, str]) -> tuple[int, np.ndarray]:
    i, labels, instrument = job
    return i, _WORKER["renderer"].render_melody(labels, instrument, **_WORKER["settings"])


def render_many(
    labels: np.ndarray,
    instruments: Sequence[str],
    *,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 16000,
    n_samples: int = 64000,
    tempo_bpm: float = 120.0,
    velocity: int = 90,
    workers: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Render melodies ``labels[i]`` as ``instruments[i]``; yields ``(i, clip)`` as they finish.

    ``workers`` processes (default: every core) each load the soundfont once.
    With ``workers=1`` everything runs in this process.
    """
    for name in set(instruments):
        program_of(name)  # fail before starting workers
    sf = str(find_soundfont(soundfont))
    settings = dict(n_samples=n_samples, tempo_bpm=tempo_bpm, velocity=velocity)
    jobs = [(i, np.asarray(lab), inst) for i, (lab, inst) in enumerate(zip(labels, instruments, strict=True))]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 8:
        with Renderer(sf, sample_rate) as r:
            for i, lab, inst in jobs:
                yield i, r.render_melody(lab, inst, **settings)
        return
    ctx = get_context("spawn")  # safe inside Jupyter kernels and beside torch's threads
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker,
        initargs=(os.getpid(), sf, sample_rate, settings),
    ) as pool:
        try:
            yield from pool.map(_render_job, jobs, chunksize=max(1, min(32, len(jobs) // (4 * workers))))
        except BrokenProcessPool:
            with Renderer(sf, sample_rate):  # the workers' start failed: say why in one line
                pass
            raise TsdsaeError("the rendering worker processes died: run again with --workers 1 "
                              "to see why") from None
