"""Classic unaries for MSRC-21: TextonBoost-style pixel features (Shotton et al., IJCV 2009).

Built so far: CIE Lab conversion and the 17-filter bank (:mod:`.filterbank`). The texton
vocabulary, texture-layout features and the boosted classifier come next.
"""
from .filterbank import FILTERS, filter_bank, rgb_to_lab

__all__ = ["FILTERS", "filter_bank", "rgb_to_lab"]
