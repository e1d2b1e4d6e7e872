"""Classic unaries for MSRC-21: TextonBoost-style pixel features (Shotton et al., IJCV 2009).

Built so far: CIE Lab conversion and the 17-filter bank (:mod:`.filterbank`), the texton
vocabulary (:mod:`.textons`) and the texture-layout features (:mod:`.layout`); the boosted
classifier over them comes next.
"""
from .filterbank import FILTERS, filter_bank, rgb_to_lab
from .layout import layout_features, random_layout_features
from .textons import Textons

__all__ = ["FILTERS", "filter_bank", "rgb_to_lab", "Textons", "layout_features", "random_layout_features"]
