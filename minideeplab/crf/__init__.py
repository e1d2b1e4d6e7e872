"""Conditional random fields for segmentation: the fully connected CRF (lattice or exact
mean field), the grid CRF, the permutohedral lattice, and a pydensecrf-compatible API
(:mod:`minideeplab.crf.densecrf`, :mod:`minideeplab.crf.utils`)."""
from .dense import dense_crf
from .grid import grid_crf
from .lattice import Lattice, bilateral_filter

__all__ = ["dense_crf", "grid_crf", "Lattice", "bilateral_filter"]
