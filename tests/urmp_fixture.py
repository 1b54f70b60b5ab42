"""A tiny URMP-shaped folder rendered with FluidSynth at 48 kHz (the tests' stand-in for a user's copy).

Layout as URMP: piece folders holding ``AuSep_<k>_<inst>_<NN>_<Piece>.wav``, plus
files the preparation must ignore. Each track is a sequence of 4-s phrases of
one-second legato notes (tonal: CREPE is confident), some 4-s stretches of silence
(CREPE is not: the filter drops them) and a 1-s tail (dropped by the segmentation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from tsdsae.data.render import Renderer, program_of

RATE = 48000
PHRASE = 4 * RATE

#: piece folder -> [(file, instrument, [kinds of its 4-s stretches], gain, stereo)]
LAYOUT = {
    "01_Jupiter_vn_vc": [("AuSep_1_vn_01_Jupiter.wav", "violin", ["tone", "tone", "silence", "tone"], 0.8, False),
                         ("AuSep_2_vc_01_Jupiter.wav", "cello", ["tone", "tone"], 0.5, False)],
    "02_Sonata_vn_tpt": [("AuSep_1_vn_02_Sonata.wav", "violin", ["tone", "tone"], 0.4, True),
                         ("AuSep_2_tpt_02_Sonata.wav", "trumpet", ["tone", "silence", "tone", "tone"], 0.6, False)],
}
#: what the preparation must find with the default instruments (vn, tpt)
EXPECTED = {"violin": {"segments": 6, "kept": 5}, "trumpet": {"segments": 4, "kept": 3}}


def _phrase(renderer: Renderer, instrument: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    track = pretty_midi.Instrument(program=program_of(instrument))
    pitches = 64 + int(rng.integers(0, 8)) + np.cumsum(rng.choice([-2, -1, 1, 2], size=4))
    for k, p in enumerate(pitches):
        track.notes.append(pretty_midi.Note(90, int(p), float(k), float(k + 1)))
    pm.instruments.append(track)
    mono = renderer.render_midi(pm, PHRASE).mean(axis=1)
    return mono / np.abs(mono).max()


def render_urmp_fixture(root: str | Path) -> Path:
    """Write the fixture under ``root`` and return it."""
    root = Path(root)
    seed = 0
    with Renderer(sample_rate=RATE) as renderer:
        for piece, tracks in LAYOUT.items():
            (root / piece).mkdir(parents=True, exist_ok=True)
            (root / piece / f"Notes_{piece}.txt").write_text("not a track\n")
            for name, instrument, kinds, gain, stereo in tracks:
                parts = []
                for kind in kinds:
                    seed += 1
                    parts.append(_phrase(renderer, instrument, seed) if kind == "tone" else np.zeros(PHRASE))
                parts.append(_phrase(renderer, instrument, 99)[:RATE])  # a 1-s tail
                left = gain * np.concatenate(parts)
                # the right channel is loud noise: only the left one may be read
                audio = np.stack([left, np.random.default_rng(seed).uniform(-1, 1, len(left))], 1) if stereo else left
                sf.write(root / piece / name, audio.astype(np.float32), RATE, subtype="PCM_16")
            mix = root / piece / f"AuMix_{piece}.wav"
            sf.write(mix, np.zeros(RATE, np.float32), RATE, subtype="PCM_16")
    return root
