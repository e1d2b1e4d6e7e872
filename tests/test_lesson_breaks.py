"""Break the concept a lesson teaches, and its own checks must fail (see tests/lessonrun.py).

Each test runs a lesson with a prelude that breaks one thing in the library, the way a wrong
implementation would; the lesson passes unbroken in tests/test_lessons.py."""
import pytest

from lessonrun import assert_checks_catch

pytestmark = pytest.mark.slow

IGNORE_DILATION = """
import minideeplab.nn as nn, minideeplab.nn.conv as conv
_forward = conv.conv2d_im2col_forward
def _no_holes(x, w, b=None, stride=1, padding=0, dilation=1):
    return _forward(x, w, b, stride, padding, 1)  # the atrous algorithm forgotten
nn.conv2d_im2col_forward = conv.conv2d_im2col_forward = _no_holes
"""


def test_05_atrous_catches_ignored_dilation(tmp_path):
    assert_checks_catch("05", tmp_path, IGNORE_DILATION)
