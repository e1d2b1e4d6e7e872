"""Break the concept of lessons 1-4 and 6-8, and their own checks must fail (see tests/lessonrun.py).

Each prelude breaks one thing in the library the way a wrong implementation would; the
lessons pass unbroken in tests/test_lessons.py. Each break is caught by an assert that comes
before the lesson's slow parts where the lesson allows it (lesson 7: after 100 of its 900
training iterations)."""
import pytest

from lessonrun import assert_checks_catch

pytestmark = pytest.mark.slow

# lesson 1: the class-average accuracy computed as the global one (pixels pooled over classes)
CLASS_AVERAGE_AS_GLOBAL = """
import minideeplab.metrics as metrics
_summarize = metrics.summarize
def _pooled(conf):
    out = _summarize(conf)
    out["class_avg_acc"] = out["global_acc"]  # every pixel weighs the same: large classes dominate
    return out
metrics.summarize = _pooled
"""

# lesson 1: the confusion matrix accumulated as conf[predicted, true]
TRANSPOSED_CONFUSION = """
import minideeplab.metrics as metrics
_confusion = metrics.confusion_matrix
def _transposed(label, pred, num_classes, *args, **kwargs):
    return _confusion(label, pred, num_classes, *args, **kwargs).T  # rows are predictions
metrics.confusion_matrix = _transposed
"""

# lesson 1: the mean IoU averaged over all L classes, an absent class counted as IoU 0
ABSENT_CLASS_COUNTED = """
import numpy as np
import minideeplab.metrics as metrics
_summarize = metrics.summarize
def _all_classes(conf):
    out = _summarize(conf)
    out["mean_iou"] = float(np.nan_to_num(out["per_class_iou"], nan=0.0).mean())
    return out
metrics.summarize = _all_classes
"""

# lesson 2: a conv that lays out its (F, N * P) product as (N, F, P) without moving the batch
# axis: right for one image, images of a batch mixed (forward and backward consistently so)
BATCH_MIXED_CONV = """
import minideeplab.nn.conv as conv
_fwd, _bwd = conv.conv2d_im2col_forward, conv.conv2d_im2col_backward
def _mixed(x, w, b=None, stride=1, padding=0, dilation=1):
    out, cache = _fwd(x, w, b, stride, padding, dilation)
    N, F, H, W = out.shape
    return out.transpose(1, 0, 2, 3).reshape(N, F, H, W), (cache, out.shape)
def _mixed_backward(dout, cache, input_grad=True):
    cache, (N, F, H, W) = cache
    return _bwd(dout.reshape(F, N, H, W).transpose(1, 0, 2, 3), cache, input_grad)
conv.conv2d_im2col_forward, conv.conv2d_im2col_backward = _mixed, _mixed_backward
"""

# lesson 2: max pooling with its grid of windows aligned to the end of the map instead of its
# start (as a "centred" pooling would be): right for even maps, such as the training patches',
# but on the whole image the one-pass net then samples the other phase of the sliding window
POOL_GRID_AT_END = """
import minideeplab.nn as nn, minideeplab.nn.layers as layers, minideeplab.nn.pool as pool
_maxpool = pool.maxpool2d_forward
def _at_end(x, kernel_size, stride=None, padding=0):
    k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    s = k if stride is None else (stride if isinstance(stride, int) else stride[0])
    H, W = x.shape[2:]
    return _maxpool(x[:, :, (H - k) % s:, (W - k) % s:], kernel_size, stride, padding)
nn.maxpool2d_forward = pool.maxpool2d_forward = _at_end
layers.MaxPool2d._fwd = staticmethod(_at_end)
"""

# lessons 3 and 4: the receptive field recursion without the dilation (RF += (k - 1) * J)
RF_IGNORES_DILATION = """
import minideeplab.models as models, minideeplab.models.receptive as receptive
_rf = receptive.receptive_field
def _no_dilation(model, upto=None):
    rows, rf = _rf(model, upto), 1
    for r in rows:
        rf += (r["kernel"] - 1) * r["jump"] // r["stride"]
        r["rf"] = rf
    return rows
models.receptive_field = receptive.receptive_field = _no_dilation
"""

# lesson 3: the receptive field recursion without the jump (RF += (k - 1) d, input pixels
# and feature-map cells confused)
RF_IGNORES_STRIDE = """
import minideeplab.models as models, minideeplab.models.receptive as receptive
_rf = receptive.receptive_field
def _no_jump(model, upto=None):
    rows, rf = _rf(model, upto), 1
    for r in rows:
        rf += r["dilation"] * (r["kernel"] - 1)
        r["rf"] = rf
    return rows
models.receptive_field = receptive.receptive_field = _no_jump
"""

# lesson 4: DeepLab built with fc6 undilated (the subsampling removed, not made up for)
FC6_UNDILATED = """
import minideeplab.models.deeplab as deeplab
_classifier = deeplab._classifier
def _undilated(c_in, k, dil, *args, **kwargs):
    return _classifier(c_in, k, 1, *args, **kwargs)
deeplab._classifier = _undilated
"""

# lesson 6: the softmax cross-entropy backward forgets the one-hot term (softmax, not softmax - y)
BACKWARD_FORGETS_ONEHOT = """
import numpy as np
import minideeplab.nn as nn, minideeplab.nn.functional as F
def _no_onehot(cache, dloss=1.0):
    logp, target, weight, norm = cache
    return np.exp(logp) * (weight[:, None] * (dloss / norm)).astype(logp.dtype)
nn.softmax_cross_entropy_backward = F.softmax_cross_entropy_backward = _no_onehot
"""

# lesson 7: the optimizer's step does nothing
STEP_IS_NOOP = """
import minideeplab.optim as optim
optim.SGD.step = lambda self, grads, lr=None: None
optim.Adam.step = lambda self, grads, lr=None: None
"""

# lesson 7: the trainer re-draws the weights it is handed (its own init, seed 0), so the
# fine-tuned net starts where the one from scratch does; caught by the fine-tuning gain
TRAINER_REINITIALISES = """
import minideeplab.train as train
from minideeplab.models.deeplab import init_weights
_init = train.Trainer.__init__
def _reinit(self, model, *args, **kwargs):
    init_weights(model, 0)
    _init(self, model, *args, **kwargs)
train.Trainer.__init__ = _reinit
"""

# lesson 8: the grid CRF ignores its pairwise weight
PAIRWISE_IGNORED = """
import minideeplab.crf as crf, minideeplab.crf.grid as grid
_grid_crf = grid.grid_crf
def _unary_only(image, probs, **kwargs):
    kwargs.update(w_smooth=0.0, w_contrast=0.0)
    return _grid_crf(image, probs, **kwargs)
crf.grid_crf = grid.grid_crf = _unary_only
"""


def test_01_catches_class_average_as_global(tmp_path):
    assert_checks_catch("01", tmp_path, CLASS_AVERAGE_AS_GLOBAL)


def test_01_catches_transposed_confusion_matrix(tmp_path):
    assert_checks_catch("01", tmp_path, TRANSPOSED_CONFUSION)


def test_01_catches_absent_class_counted_in_miou(tmp_path):
    assert_checks_catch("01", tmp_path, ABSENT_CLASS_COUNTED)


def test_02_catches_batch_mixed_conv(tmp_path):
    assert_checks_catch("02", tmp_path, BATCH_MIXED_CONV)


def test_02_catches_pooling_grid_at_the_end(tmp_path):
    assert_checks_catch("02", tmp_path, POOL_GRID_AT_END)


def test_03_catches_rf_without_stride(tmp_path):
    assert_checks_catch("03", tmp_path, RF_IGNORES_STRIDE)


# Lesson 3 checks DeepLab-LargeFOV's receptive field (419) against its own hand recursion.
def test_03_catches_rf_without_dilation(tmp_path):
    assert_checks_catch("03", tmp_path, RF_IGNORES_DILATION)


def test_04_catches_undilated_fc6(tmp_path):
    assert_checks_catch("04", tmp_path, FC6_UNDILATED)


def test_04_catches_rf_without_dilation(tmp_path):
    assert_checks_catch("04", tmp_path, RF_IGNORES_DILATION)


def test_06_catches_backward_without_onehot(tmp_path):
    assert_checks_catch("06", tmp_path, BACKWARD_FORGETS_ONEHOT)


def test_07_catches_noop_optimizer_step(tmp_path):
    assert_checks_catch("07", tmp_path, STEP_IS_NOOP)


def test_07_catches_finetuning_from_scratch(tmp_path):
    err = assert_checks_catch("07", tmp_path, TRAINER_REINITIALISES)
    assert "gain[" in str(err), f"lesson 7 failed before its fine-tuning check:\n{err}"


def test_08_catches_ignored_pairwise_weight(tmp_path):
    assert_checks_catch("08", tmp_path, PAIRWISE_IGNORED)
