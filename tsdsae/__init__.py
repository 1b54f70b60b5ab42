"""tsdsae: two-stage disentangled sequential autoencoders for music audio.

A library and tutorial reproducing Luo, Ewert & Dixon, "Towards Robust
Unsupervised Disentanglement of Sequential Data — A Case Study Using Music
Audio" (IJCAI 2022). The notebooks in ``notebooks/`` teach it step by step.
"""

from .errors import TsdsaeError

__version__ = "0.1.0"
__all__ = ["TsdsaeError", "__version__"]
