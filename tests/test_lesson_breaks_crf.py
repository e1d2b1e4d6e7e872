"""Break the concept of lessons 9, 10, 13 and 15 (the CRFs), and their own checks must fail
(see tests/lessonrun.py).

Each prelude breaks one thing in minideeplab.crf the way a wrong implementation would; the
lessons pass unbroken in tests/test_lessons.py. Each break is caught by an assert that comes
before the lesson's slow parts where the lesson allows it."""
import pytest

from lessonrun import assert_checks_catch

pytestmark = pytest.mark.slow

# lesson 9: the grid CRF's pairwise weights never reach the update (Q stays softmax(-U));
# caught by the noise clean-up check
GRID_PAIRWISE_IGNORED = """
import numpy as np
import minideeplab.crf.grid as grid
_edge_weights = grid.edge_weights
def _no_pairwise(image, connectivity=4, w_smooth=1.0, w_contrast=3.0, beta=None):
    ws, beta = _edge_weights(image, connectivity, w_smooth, w_contrast, beta)
    return [np.zeros_like(w) for w in ws], beta
grid.edge_weights = _no_pairwise
"""

# lesson 9: the contrast term with the wrong sign: w_smooth + w_contrast (1 - exp(-beta |dI|^2)),
# so that a label change costs the most where the image has an edge; caught by the check
# against plain Potts near the boundaries
GRID_CONTRAST_INVERTED = """
import numpy as np
import minideeplab.crf.grid as grid
_edge_weights = grid.edge_weights
def _inverted(image, connectivity=4, w_smooth=1.0, w_contrast=3.0, beta=None):
    ws, beta = _edge_weights(image, connectivity, w_smooth, w_contrast, beta)
    plain, _ = _edge_weights(image, connectivity, w_smooth, 0.0, beta)
    dist = [1.0, 1.0, np.sqrt(2.0), np.sqrt(2.0)]
    return [p + (w_contrast / d - (w - p)) for w, p, d in zip(ws, plain, dist)], beta
grid.edge_weights = _inverted
"""

# lessons 10 and 15: the appearance (bilateral) kernel built on positions only, i.e. the spatial
# Gaussian of width theta_alpha, the colour term forgotten; caught by lesson 10's w1 sweep and
# by lesson 15's trimap check
BILATERAL_WITHOUT_COLOUR = """
import minideeplab.crf.dense as dense
_features = dense.pixel_features
def _positions_only(image, H, W, theta_xy, theta_rgb=None):
    return _features(image, H, W, theta_xy)
dense.pixel_features = _positions_only
"""

# lesson 13: the mean-field update without the pairwise message: Q <- softmax(-U) every time
# (the fast engine and the readable loop alike); caught by the exercise's check, which
# rebuilds every iteration from the score
NO_PAIRWISE_MESSAGE = """
import numpy as np
import minideeplab.crf.meanfield as mf
_init = mf.LatticeMeanField.__init__
def _zero_weights(self, lattices, weights, normalizations):
    _init(self, lattices, [0.0] * len(weights), normalizations)
mf.LatticeMeanField.__init__ = _zero_weights
mf.mean_field_energies = lambda minus_unary, Q, kernels, compats: np.array(minus_unary, dtype=np.float64)
"""

# lesson 15: a "CRF" that returns the DCNN's probabilities unchanged; caught by the trimap check
CRF_RETURNS_UNARY = """
import numpy as np
import minideeplab.crf as crf, minideeplab.crf.dense as dense
def _unchanged(image, probs, **kwargs):
    q = np.asarray(probs, np.float32)
    return (q, [q] * (kwargs.get("n_iter", 10) + 1)) if kwargs.get("return_history") else q
crf.dense_crf = dense.dense_crf = _unchanged
"""


def test_09_grid_crf_catches_ignored_pairwise_term(tmp_path):
    assert_checks_catch("09", tmp_path, GRID_PAIRWISE_IGNORED)


def test_09_grid_crf_catches_inverted_contrast(tmp_path):
    assert_checks_catch("09", tmp_path, GRID_CONTRAST_INVERTED)


def test_10_dense_crf_catches_bilateral_without_colour(tmp_path):
    assert_checks_catch("10", tmp_path, BILATERAL_WITHOUT_COLOUR)


def test_13_deeplab_crf_catches_update_without_message(tmp_path):
    assert_checks_catch("13", tmp_path, NO_PAIRWISE_MESSAGE)


def test_15_results_catches_crf_returning_unary(tmp_path):
    assert_checks_catch("15", tmp_path, CRF_RETURNS_UNARY)


def test_15_results_catches_bilateral_without_colour(tmp_path):
    assert_checks_catch("15", tmp_path, BILATERAL_WITHOUT_COLOUR)
