"""Break the concept of lessons 11 (the permutohedral lattice) and 12 (grid vs fully connected
CRF on MSRC-21), and their own checks must fail (see tests/lessonrun.py).

Each prelude breaks one thing in minideeplab.crf the way a wrong implementation would; the
lessons pass unbroken in tests/test_lessons.py. Lesson 11's breaks are caught by its first
check (the 1-D kernel against exp(-x^2 / 2)); lesson 12's by the comparison of the CRFs near
boundaries on the six embedded images, before the lesson's timings and its pass over the
test split."""
import pytest

from lessonrun import assert_checks_catch
from test_lesson_breaks_crf import BILATERAL_WITHOUT_COLOUR

pytestmark = pytest.mark.slow

# lesson 11: splat and slice without the blur in between (each point reads back only the
# values of its own simplex: a tent of width one lattice unit, not a Gaussian)
LATTICE_BLUR_SKIPPED = """
import minideeplab.crf.lattice as lattice
lattice.blur = lambda A, B, base, neighbors, reverse: None
"""

# lesson 11: a "filter" that returns the mean of its output at every point
LATTICE_RETURNS_MEAN = """
import numpy as np
import minideeplab.crf.lattice as lattice
_filter = lattice.Lattice.filter
def _mean(self, values, transpose=False):
    out = _filter(self, values, transpose)
    return np.broadcast_to(out.mean(axis=0), out.shape).copy()
lattice.Lattice.filter = lattice.Lattice.__call__ = _mean
"""

# lesson 12: the appearance (bilateral) kernel built on positions only (BILATERAL_WITHOUT_COLOUR,
# shared with lessons 10 and 15): a wide blur that drags labels across the image's edges

# lesson 12: a fully connected CRF that returns its input (the DCNN's probabilities), wherever
# the lesson or minideeplab.compare looks it up
DENSE_RETURNS_INPUT = """
import numpy as np
import minideeplab.compare as compare, minideeplab.crf as crf, minideeplab.crf.dense as dense
def _unchanged(image, probs, **kwargs):
    q = np.asarray(probs, np.float32)
    return (q, [q] * (kwargs.get("n_iter", 10) + 1)) if kwargs.get("return_history") else q
crf.dense_crf = dense.dense_crf = compare.dense_crf = _unchanged
"""


def test_11_permutohedral_catches_skipped_blur(tmp_path):
    assert_checks_catch("11", tmp_path, LATTICE_BLUR_SKIPPED)


def test_11_permutohedral_catches_lattice_returning_the_mean(tmp_path):
    assert_checks_catch("11", tmp_path, LATTICE_RETURNS_MEAN)


def test_12_grid_vs_dense_catches_bilateral_without_colour(tmp_path):
    assert_checks_catch("12", tmp_path, BILATERAL_WITHOUT_COLOUR)


def test_12_grid_vs_dense_catches_dense_crf_returning_its_input(tmp_path):
    assert_checks_catch("12", tmp_path, DENSE_RETURNS_INPUT)
