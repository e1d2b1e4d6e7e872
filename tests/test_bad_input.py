"""Bad input across nn, models, optim, train's config, metrics and datasets: a generated
sweep and regression tests.

Every call must either raise one of the documented errors (``ValueError`` / ``TypeError``)
or return finite numbers for
finite input. The layer ops propagate NaN and inf *inputs* as NumPy and PyTorch do (no extra
pass over the data on the hot path; README, "Errors"), so the sweep feeds them only finite
arrays. The CRF package has its own sweep (``test_crf_bad_input.py``).
"""
import itertools

import numpy as np
import pytest

import minideeplab.nn as nn
from minideeplab import metrics, optim
from minideeplab.datasets import SyntheticScenes, noisy_probs
from minideeplab.datasets import transforms as T
from minideeplab.models import DeepLab, build_model
from minideeplab.predict import predict_scores
from minideeplab.train import TrainConfig

DOCUMENTED = (ValueError, TypeError)
x = np.random.default_rng(0).random((2, 3, 7, 7)).astype(np.float32)
w = np.random.default_rng(1).random((4, 3, 3, 3)).astype(np.float32)
WEIRD = [None, [1, 2], "abc", 3, 2.5, True, -1, 0, np.zeros((0, 3, 7, 7), np.float32),
         np.zeros((2, 3, 0, 7), np.float32), np.zeros(5), x.astype(np.int32), x.astype(np.float16), x[0],
         x[:, :, :1, :1], x.astype(np.complex64), x * 1e4, -x, np.ones((2, 1, 7, 7), np.float32)]


def _calls(v):
    """(name, thunk) pairs: ``v`` passed where an array, a size or a number is expected."""
    labels = np.zeros((2, 7, 7), np.int64)
    _, maxc = nn.maxpool2d_forward(x, 3, 2, 1)
    _, avgc = nn.avgpool2d_forward(x, 3, 2, 1)
    _, interpc = nn.interp_forward(x, (9, 9))
    _, reluc = nn.relu_forward(x)
    _, convc = nn.conv2d_im2col_forward(x, w, None, 1, 1, 1)
    _, winoc = nn.conv2d_winograd_forward(x, w, None, 1)
    _, lossc = nn.softmax_cross_entropy_forward(x, labels)
    yield "im2col x", lambda: nn.conv2d_im2col_forward(v, w, None, 1, 1, 1)
    yield "im2col w", lambda: nn.conv2d_im2col_forward(x, v, None, 1, 1, 1)
    yield "winograd x", lambda: nn.conv2d_winograd_forward(v, w, None, 1)
    yield "winograd w", lambda: nn.conv2d_winograd_forward(x, v, None, 1)
    yield "maxpool", lambda: nn.maxpool2d_forward(v, 3, 2, 1)
    yield "avgpool", lambda: nn.avgpool2d_forward(v, 3, 2, 1)
    yield "relu", lambda: nn.relu_forward(v)
    yield "softmax", lambda: nn.softmax(v)
    yield "interp x", lambda: nn.interp_forward(v, (9, 9))
    yield "interp size", lambda: nn.interp_forward(x, v)
    yield "shrink labels", lambda: nn.shrink_labels(v, (3, 3))
    yield "dropout p", lambda: nn.dropout_forward(x, v, np.random.default_rng(0))
    yield "loss scores", lambda: nn.softmax_cross_entropy_forward(v, labels)
    yield "loss labels", lambda: nn.softmax_cross_entropy_forward(x, v)
    yield "loss dloss", lambda: nn.softmax_cross_entropy_backward(lossc, v)
    for arg in ("kernel_size", "stride", "padding", "dilation", "in_channels"):
        yield f"Conv2d {arg}", lambda: nn.Conv2d(**dict(dict(in_channels=3, out_channels=4, kernel_size=3),
                                                        **{arg: v}))(x)
    yield "Conv2d x", lambda: nn.Conv2d(3, 4, 3, padding=1)(v)
    yield "MaxPool2d x", lambda: nn.MaxPool2d(3, 2, 1)(v)
    for name, backward, cache in (("maxpool", nn.maxpool2d_backward, maxc), ("avgpool", nn.avgpool2d_backward, avgc),
                                  ("interp", nn.interp_backward, interpc), ("relu", nn.relu_backward, reluc),
                                  ("im2col", nn.conv2d_im2col_backward, convc),
                                  ("winograd", nn.conv2d_winograd_backward, winoc)):
        yield f"{name} backward dout", lambda: backward(v, cache)
    yield "confusion label", lambda: metrics.confusion_matrix(v, np.zeros((7, 7), int), 3)
    yield "confusion classes", lambda: metrics.confusion_matrix(np.zeros((7, 7), int), np.zeros((7, 7), int), v)
    yield "summarize", lambda: metrics.summarize(v)
    yield "trimap widths", lambda: metrics.trimap_scores([np.zeros((7, 7), int)], [np.zeros((7, 7), int)], v, 3)
    yield "boundary width", lambda: metrics.boundary_band(np.eye(7, dtype=int), v)
    yield "SyntheticScenes size", lambda: SyntheticScenes(2, v, 3)[0]
    yield "SyntheticScenes classes", lambda: SyntheticScenes(2, (9, 9), v)[0]
    yield "SyntheticScenes n", lambda: len(SyntheticScenes(v, (9, 9), 3))
    yield "noisy_probs labels", lambda: noisy_probs(v, 3, strength=1.0, noise=1.0, rng=0)
    yield "noisy_probs strength", lambda: noisy_probs(np.zeros((4, 4), int), 3, strength=v, noise=1.0, rng=0)
    yield "DeepLab width", lambda: DeepLab("DeepLab-LargeFOV", 3, width=v)
    yield "DeepLab classes", lambda: DeepLab("DeepLab-LargeFOV", v, width=0.125)
    yield "build_model", lambda: build_model(v, num_classes=3, width=0.125)
    for field in ("classifier_lr_mult", "base_lr", "momentum", "weight_decay", "crop_size", "seed", "mirror",
                  "normalization", "gamma", "snapshot_every"):
        yield f"TrainConfig {field}", lambda: TrainConfig(**{field: v}).validate()
    yield "preprocess", lambda: T.preprocess(v)
    yield "resize_image", lambda: T.resize_image(np.zeros((5, 5, 3), np.uint8), v)
    yield "SGD lr", lambda: optim.SGD({"a": np.zeros(3)}, v)
    yield "SGD lr_mult", lambda: optim.SGD({"a": np.zeros(3)}, 0.1, lr_mult={"a": v})
    yield "schedule", lambda: optim.make_schedule(v, 0.1, max_iter=10)
    yield "deeplab_multipliers", lambda: optim.deeplab_multipliers(["fc8.weight"], v)


def _finite(out):
    for a in out if isinstance(out, tuple) else (out,):
        if isinstance(a, np.ndarray) and a.dtype.kind in "fc":
            assert np.all(np.isfinite(a))
        elif isinstance(a, float):
            assert np.isfinite(a)


@pytest.mark.parametrize("i", range(len(WEIRD)))
def test_generated_bad_input_raises_documented_errors_or_returns_finite_numbers(i):
    v = WEIRD[i]
    calls = list(_calls(v))
    assert len(calls) > 50
    for name, call in calls:
        try:
            out = call()
        except DOCUMENTED:
            continue
        except Exception as e:  # pragma: no cover - the failure message
            pytest.fail(f"{name} with {v!r:.40}: {type(e).__name__}: {e}")
        _finite(out)


def test_model_and_predict_refuse_non_images():
    m = DeepLab("DeepLab-LargeFOV", 3, width=0.125)
    for v in WEIRD[:8] + [np.zeros((5, 5), np.uint8), np.full((5, 5, 3), np.nan), np.zeros((5, 5, 3), object)]:
        with pytest.raises(DOCUMENTED):
            predict_scores(m, v)
    with pytest.raises(DOCUMENTED):
        m.forward([1, 2, 3])


# ------------------------------------------------------------------ regressions
def test_backward_passes_refuse_a_wrongly_shaped_dout():
    out, cache = nn.maxpool2d_forward(x, 3, 2, 1)
    with pytest.raises(ValueError, match="dout must have the forward output's shape \\(2, 3, 4, 4\\)"):
        nn.maxpool2d_backward(np.ones((1, 1, 4, 4), np.float32), cache)  # once broadcast silently
    out, cache = nn.avgpool2d_forward(x, 3, 2, 1)
    with pytest.raises(ValueError, match="dout must have"):
        nn.avgpool2d_backward(np.ones((2, 3, 1, 4), np.float32), cache)
    with pytest.raises(TypeError, match="dout must be an array"):
        nn.relu_backward([1.0], nn.relu_forward(x)[1])


def test_loss_on_an_empty_batch_is_a_value_error():
    for normalization in ("valid", "batch_size", "full", "none"):
        with pytest.raises(ValueError, match="scores must not be empty"):
            nn.softmax_cross_entropy_forward(np.zeros((0, 3, 4, 4), np.float32), np.zeros((0, 4, 4), np.int64),
                                             normalization=normalization)


def test_silently_accepted_values_are_refused():
    with pytest.raises(ValueError, match="labels and preds must have the same length"):
        metrics.trimap_scores([np.zeros((4, 4), int)] * 2, [np.zeros((4, 4), int)], [1], 3)
    with pytest.raises(ValueError, match="size must be positive"):
        SyntheticScenes(2, size=(0, 5))
    with pytest.raises(ValueError, match="classifier_lr_mult must be in \\[0, inf\\)"):
        TrainConfig(classifier_lr_mult=-1.0).validate()
    with pytest.raises(ValueError, match="classifier_mult"):
        optim.deeplab_multipliers(["fc8.weight"], -10.0)
    with pytest.raises(ValueError, match="lr_mult\\['a'\\]"):
        optim.SGD({"a": np.zeros(3)}, 0.1, lr_mult={"a": -1.0})


def test_summarize_refuses_what_is_not_a_confusion_matrix():
    for bad, err in ((np.ones((2, 3)), ValueError), (np.ones((2, 2), complex), TypeError), (-np.eye(2), ValueError),
                     (np.full((2, 2), np.nan), ValueError), (np.zeros((0, 0)), ValueError)):
        with pytest.raises(err, match="conf"):
            metrics.summarize(bad)


def test_numpy_scalars_are_numbers():
    m = DeepLab("DeepLab-LargeFOV", 3, width=np.float32(0.0625))
    assert m.width == pytest.approx(0.0625)
    assert metrics.trimap_scores([np.eye(5, dtype=int)], [np.eye(5, dtype=int)], np.int64(1), 2)[1]["global_acc"] == 1
