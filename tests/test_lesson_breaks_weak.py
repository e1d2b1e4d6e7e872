"""Break the concept of lesson 16 (weak supervision), and its own checks must fail
(see tests/lessonrun.py).

Each prelude breaks one thing in minideeplab.weak the way a wrong implementation would; the
lesson passes unbroken in tests/test_lessons.py. All three are caught before the lesson's EM
loop, its slow part."""
import pytest

from lessonrun import assert_checks_catch

pytestmark = pytest.mark.slow

# Bbox-Rect fills the boxes smallest first, so that the largest box wins where boxes overlap;
# caught by the exercise's check, which holds the library's Bbox-Rect to its own reference
BBOX_RECT_LARGEST_WINS = """
import minideeplab.weak as weak
_check_boxes = weak._check_boxes
weak._check_boxes = lambda boxes, shape, num_classes=None: _check_boxes(boxes, shape, num_classes)[::-1]
"""

# Bbox-Seg without its CRF: the boxes filled with their classes, as Bbox-Rect does; caught by
# the comparison of the two estimates over the twelve scenes
BBOX_SEG_WITHOUT_CRF = """
import minideeplab.weak as weak
weak.bbox_seg = lambda image, boxes, num_classes, background=0, crf_params=None, n_iter=10: \\
    weak.bbox_rect(image.shape[:2], boxes, background)
"""

# EM-Adapt that ignores its fractions: the arg max over the classes the tags name, no biases;
# caught by the share check on the simulated networks' scores
EM_ADAPT_WITHOUT_FRACTIONS = """
import minideeplab.weak as weak
weak.em_adapt = lambda scores, present, background=0, rho_bg=0.4, rho_fg=0.2, rounds=20: \\
    weak.em_fixed(scores, present, bias={int(c): 0.0 for c in present})
"""


def test_16_weak_supervision_catches_bbox_rect_largest_wins(tmp_path):
    assert_checks_catch("16", tmp_path, BBOX_RECT_LARGEST_WINS)


def test_16_weak_supervision_catches_bbox_seg_without_crf(tmp_path):
    assert_checks_catch("16", tmp_path, BBOX_SEG_WITHOUT_CRF)


def test_16_weak_supervision_catches_em_adapt_without_fractions(tmp_path):
    assert_checks_catch("16", tmp_path, EM_ADAPT_WITHOUT_FRACTIONS)
