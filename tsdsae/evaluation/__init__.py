"""Evaluation: instrument classification of v under latent swaps (more metrics join later)."""

from .swap import SwapResult, encode, partners, swap_decode, swap_f1, swap_pair

__all__ = ["SwapResult", "encode", "partners", "swap_decode", "swap_f1", "swap_pair"]
