"""Data: the dMelodies factor space, FluidSynth rendering and cached audio datasets."""

from .dataset import MelodyAudioDataset, build_dataset, default_cache_dir, draw_items, load_dataset
from .melodies import FACTORS, N_MELODIES, factors_of, index_of, melody_notes, piano_roll, select
from .render import Renderer, find_soundfont, melody_midi, program_of

__all__ = [
    "FACTORS", "N_MELODIES", "MelodyAudioDataset", "Renderer", "build_dataset",
    "default_cache_dir", "draw_items", "factors_of", "find_soundfont", "index_of",
    "load_dataset", "melody_midi", "melody_notes", "piano_roll", "program_of", "select",
]
