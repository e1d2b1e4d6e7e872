"""minideeplab: DeepLab from scratch.

A deep convolutional net whose coarse scores are refined by a fully connected CRF
(Chen et al., ICLR 2015), written with explicit forward/backward passes in NumPy
(CuPy on request) and Numba.
"""
__version__ = "0.1.0"

from . import backend  # noqa: F401
