"""Break the concept of the lesson on learning the CRF (lessons/14_learning_crf.py), and its own
checks must fail (see tests/lessonrun.py).

Each prelude breaks the unrolled mean field's backward pass the way a wrong implementation would;
the lesson passes unbroken in tests/test_lessons.py. The breaks are caught by the gradient checks
at the start of the lesson, before its learning runs."""
import pytest

from lessonrun import assert_checks_catch

pytestmark = pytest.mark.slow

# the compatibility matrix gets no gradient (learning mu does nothing); caught by the one-iteration
# backward written by hand
COMPAT_GRADIENT_ZERO = """
import numpy as np
import minideeplab.crf as crf, minideeplab.crf.unrolled as unrolled
_backward = unrolled.dense_crf_backward
def _no_compat_gradient(dQ, cache):
    grads = _backward(dQ, cache)
    grads["compat"] = np.zeros_like(grads["compat"])
    return grads
crf.dense_crf_backward = unrolled.dense_crf_backward = _no_compat_gradient
"""

# the compatibility gradient with the wrong sign (a step on mu climbs the loss); caught by the
# same check
COMPAT_GRADIENT_SIGN = """
import minideeplab.crf as crf, minideeplab.crf.unrolled as unrolled
_backward = unrolled.dense_crf_backward
def _flipped(dQ, cache):
    grads = _backward(dQ, cache)
    grads["compat"] = -grads["compat"]
    return grads
crf.dense_crf_backward = unrolled.dense_crf_backward = _flipped
"""

# the backward pass through the lattice uses the forward filter instead of its transpose;
# caught by the lattice's transposed-operator check
LATTICE_TRANSPOSE_IGNORED = """
import minideeplab.crf.pairwise as pairwise
_apply = pairwise.GaussianKernel.apply
def _forward_only(self, Q, transpose=False):
    return _apply(self, Q)
pairwise.GaussianKernel.apply = _forward_only
"""


def test_14_learning_crf_catches_zero_compat_gradient(tmp_path):
    assert_checks_catch("14", tmp_path, COMPAT_GRADIENT_ZERO)


def test_14_learning_crf_catches_compat_gradient_sign(tmp_path):
    assert_checks_catch("14", tmp_path, COMPAT_GRADIENT_SIGN)


def test_14_learning_crf_catches_lattice_without_transpose(tmp_path):
    assert_checks_catch("14", tmp_path, LATTICE_TRANSPOSE_IGNORED)
