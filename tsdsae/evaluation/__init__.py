"""Evaluation: swaps (``swap``), pitch (``pitch``), FAD (``fad``), several global factors (``factors``),
linear probes (``probing``) and the whole suite of a run folder (``suite``)."""

from .swap import (
    DECODED,
    SWAP_KINDS,
    SwapResult,
    encode,
    example_pair,
    instrument_classifier,
    partners,
    read_instruments,
    regulariser_values,
    swap_decode,
    swap_f1,
    swap_one_to_many,
    swap_pair,
)

__all__ = ["DECODED", "SWAP_KINDS", "SwapResult", "encode", "example_pair", "instrument_classifier", "partners",
           "read_instruments", "regulariser_values", "swap_decode", "swap_f1", "swap_one_to_many", "swap_pair"]
