"""Conditional random fields for segmentation: the fully connected CRF (lattice or exact
mean field, and unrolled with its backward pass for learning), the grid CRF, the permutohedral lattice, and a pydensecrf-compatible API
(:mod:`minideeplab.crf.densecrf`, :mod:`minideeplab.crf.utils`)."""
from .dense import dense_crf
from .grid import grid_crf
from .lattice import Lattice, bilateral_filter
from .unrolled import dense_crf_backward, dense_crf_forward

__all__ = ["dense_crf", "dense_crf_forward", "dense_crf_backward", "grid_crf", "Lattice", "bilateral_filter"]
