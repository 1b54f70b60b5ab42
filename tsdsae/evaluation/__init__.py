"""Evaluation: swaps (``swap``), pitch (``pitch``), FAD (``fad``), several global factors (``factors``),
linear probes (``probing``) and the whole suite of a run folder (``suite``)."""

from .swap import SwapResult, encode, partners, swap_decode, swap_f1, swap_pair

__all__ = ["SwapResult", "encode", "partners", "swap_decode", "swap_f1", "swap_pair"]
