"""Models: the DSAE with factorised or full local encoder and frame-wise or enriched decoder."""

from .dsae import DSAE, Posterior
from .layers import reparameterise

__all__ = ["DSAE", "Posterior", "reparameterise"]
