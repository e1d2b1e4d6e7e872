"""Classic unaries for MSRC-21: TextonBoost-style pixel features (Shotton et al., IJCV 2009).

CIE Lab conversion and the 17-filter bank (:mod:`.filterbank`), the texton vocabulary
(:mod:`.textons`), the texture-layout features (:mod:`.layout`), histograms of gradient
orientation in rectangles (:mod:`.orientation`), the boosted-tree pixel
classifier over them (:mod:`.boost`: trained with scikit-learn, predicted with NumPy/Numba),
and the whole unary model, features to probabilities, trained and saved as one file
(:mod:`.textonboost`: :class:`TextonBoost`, with the colour-rectangle features
:func:`colour_features`). Beside them: :mod:`.sources` (a DeepLab model or a TextonBoost file
behind one interface for the CRF commands) and :mod:`.folds` (held-out unaries of the training
images from k-fold nets).
"""
from .boost import BoostedTrees
from .filterbank import FILTERS, filter_bank, rgb_to_lab
from .layout import layout_features, random_layout_features
from .orientation import orientation_features
from .textonboost import TextonBoost, colour_features
from .textons import Textons

__all__ = ["FILTERS", "filter_bank", "rgb_to_lab", "Textons", "layout_features", "random_layout_features",
           "BoostedTrees", "TextonBoost", "colour_features", "orientation_features"]
