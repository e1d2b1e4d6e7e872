"""VGG-16 and the DeepLab variants of Chen et al. (ICLR 2015), built from the layers.

All DeepLab variants keep VGG-16's 13 conv layers, remove the subsampling of pool4
and pool5 (stride 1) and make up for it with dilation: conv5 uses dilation 2 and
fc6 the dilation in the table below, so the output stride is 8 (321 -> 41).
Following the released DeepLab prototxt, pool1..pool3 are 3x3 windows with stride 2
and pad 1 (VGG's 2x2 windows grown to 3x3 so that responses align exactly; pooling
has no parameters, so the counts are unchanged) and pool4/pool5 are 3x3, stride 1, pad 1.

================  ========  ========  ========  ===========  ===============
name              fc6 k     fc6 dil   fc6/fc7   params (21)  paper's RF size
================  ========  ========  ========  ===========  ===============
DeepLab-7x7       7x7       4         4096      134.3M       224
DeepLab           4x4       4         4096       65.1M       128
DeepLab-4x4       4x4       8         4096       65.1M       224
DeepLab-LargeFOV  3x3       12        1024       20.5M       224
================  ========  ========  ========  ===========  ===============

DeepLab-MSc-LargeFOV adds a two-layer MLP (128 3x3 convs, 128 1x1 convs) on the
image and on pool1..pool4, each landing at stride 8 (the first conv strides by 8,
4, 2, 1, 1) and ending in a 1x1 classifier whose scores are summed with fc8
(equivalent to concatenating the 5 x 128 features to fc7's and classifying all).

``width`` multiplies every hidden channel count (1.0 = the paper's network);
input (3) and classes are not scaled.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import xp as backend_xp
from ..nn.layers import Conv2d, Dropout, MaxPool2d, ReLU, Sequential
from .base import Model

VGG_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]

VARIANTS = {
    #  name:               (fc6 kernel, fc6 dilation, fc6/fc7 channels)
    "DeepLab-7x7": (7, 4, 4096),
    "DeepLab": (4, 4, 4096),
    "DeepLab-4x4": (4, 8, 4096),
    "DeepLab-LargeFOV": (3, 12, 1024),
    "DeepLab-MSc-LargeFOV": (3, 12, 1024),
}

MSC_TAPS = (("data", 8), ("pool1", 4), ("pool2", 2), ("pool3", 1), ("pool4", 1))
"""(tap, stride of the head's first conv) for DeepLab-MSc: each lands at output stride 8."""


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def check_scales(scale, name="scale"):
    """A test-time input scale: a number in (0, 4], or a non-empty sequence of them (the
    scores at each scale are averaged). Returns a float or a tuple of floats."""
    many = isinstance(scale, (tuple, list))
    values = list(scale) if many else [scale]
    if not values or not all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
                             and 0 < v <= 4 for v in values):
        raise ValueError(f"{name} must be a number in (0, 4] or a non-empty list of them, got {scale!r}")
    return tuple(float(v) for v in values) if many else float(scale)


def _check_common(num_classes, width, dtype):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float, np.integer, np.floating)) or not (0 < width <= 4):
        raise ValueError(f"width must be a number in (0, 4], got {width!r}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")


def _vgg_convs(width, dtype, pools):
    """conv1_1 .. pool5; ``pools[i]`` = (kernel, stride, pad) of pool i+1."""
    layers, c_in = [], 3
    for b, (c, n) in enumerate(VGG_BLOCKS, start=1):
        dil = 2 if (b == 5 and pools[3][1] == 1) else 1  # DeepLab: conv5 atrous
        for i in range(1, n + 1):
            c_out = _ch(c, width)
            layers += [Conv2d(c_in, c_out, 3, 1, dil, dil, name=f"conv{b}_{i}", dtype=dtype),
                       ReLU(f"relu{b}_{i}")]
            c_in = c_out
        k, s, p = pools[b - 1]
        layers.append(MaxPool2d(k, s, p, name=f"pool{b}"))
    return layers, c_in


def _classifier(c_in, k, dil, c_fc, num_classes, dtype, rng, pad=None, dropout=0.5):
    pad = dil * (k - 1) // 2 if pad is None else pad
    return [
        Conv2d(c_in, c_fc, k, 1, pad, dil, name="fc6", dtype=dtype), ReLU("relu6"), Dropout(dropout, rng, "drop6"),
        Conv2d(c_fc, c_fc, 1, name="fc7", dtype=dtype), ReLU("relu7"), Dropout(dropout, rng, "drop7"),
        Conv2d(c_fc, num_classes, 1, name="fc8", dtype=dtype),
    ]


class VGG16(Model):
    """VGG-16 (configuration D) as a fully convolutional net: fc6 is a 7x7 conv.

    ``forward`` maps ``(N, 3, H, W)`` to ``(N, classes, (H/32) - 6, ...)``; at
    224x224 the output is 1x1, the ImageNet classifier.
    """

    name = "VGG-16"

    def __init__(self, num_classes=1000, width=1.0, dtype=np.float32, seed=0):
        _check_common(num_classes, width, dtype)
        rng = np.random.default_rng(seed)
        convs, c = _vgg_convs(width, dtype, [(2, 2, 0)] * 5)
        super().__init__(convs + _classifier(c, 7, 1, _ch(4096, width), num_classes, dtype, rng, pad=0))
        self.num_classes, self.width = num_classes, width
        init_weights(self, seed)


class DeepLab(Model):
    """A DeepLab variant of the ICLR 2015 paper (see the module docstring).

    Parameters
    ----------
    variant : one of ``VARIANTS``
    num_classes : L, the number of output channels of fc8 (21 for PASCAL VOC and MSRC-21)
    width : channel multiplier (1.0 = paper size)
    dtype : float32 (default) or float64 (for gradient checks)
    seed : seeds the weight init and the dropout masks
    dropout : drop probability after fc6 and fc7 (and in the MSc heads); 0.5 in the paper
    input_scale, test_flip : how :func:`minideeplab.predict.predict_scores` runs this model by
        default (the image rescaled by ``input_scale``, or the scores averaged over several;
        with ``test_flip`` also over the left-right mirrored image)

    ``forward(x)``: ``(N, 3, H, W)`` -> ``(N, L, h, w)`` with
    ``h = ceil(ceil(ceil(H / 2) / 2) / 2)`` (41 for 321).
    """

    def __init__(self, variant="DeepLab-LargeFOV", num_classes=21, width=1.0, dtype=np.float32, seed=0,
                 dropout=0.5, input_scale=1.0, test_flip=False):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        _check_common(num_classes, width, dtype)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_scale = check_scales(input_scale, "input_scale")  # test time, see predict.predict_scores
        if not isinstance(test_flip, (bool, np.bool_)):
            raise TypeError(f"test_flip must be True or False, got {test_flip!r}")
        self.test_flip = bool(test_flip)  # test time: also average the mirrored image's scores
        self.rng = np.random.default_rng(seed)
        k, dil, c_fc = VARIANTS[variant]
        pools = [(3, 2, 1)] * 3 + [(3, 1, 1)] * 2
        convs, c = _vgg_convs(width, dtype, pools)
        layers = convs + _classifier(c, k, dil, _ch(c_fc, width), num_classes, dtype, self.rng, dropout=dropout)
        heads = {}
        if variant == "DeepLab-MSc-LargeFOV":
            chans = {"data": 3}
            for l in convs:
                if isinstance(l, Conv2d):
                    last = l.out_channels
                if isinstance(l, MaxPool2d):
                    chans[l.name] = last
            h = _ch(128, width)
            for i, (tap, stride) in enumerate(MSC_TAPS):
                heads[tap] = Sequential([
                    Conv2d(chans[tap], h, 3, stride, 1, name=f"msc{i}_1", dtype=dtype), ReLU(f"msc{i}_relu1"),
                    Dropout(dropout, self.rng, f"msc{i}_drop1"),
                    Conv2d(h, h, 1, name=f"msc{i}_2", dtype=dtype), ReLU(f"msc{i}_relu2"),
                    Dropout(dropout, self.rng, f"msc{i}_drop2"),
                    Conv2d(h, num_classes, 1, name=f"msc{i}_score", dtype=dtype),
                ], name=f"msc{i}")
        super().__init__(layers, heads)
        self.name, self.variant = variant, variant
        self.num_classes, self.width, self.dropout = num_classes, width, dropout
        init_weights(self, seed)

    def reseed(self, seed_or_rng):
        """Use ``seed_or_rng`` (a seed or a Generator) for the dropout masks from now on."""
        self.rng = seed_or_rng if isinstance(seed_or_rng, np.random.Generator) else np.random.default_rng(seed_or_rng)
        for l in self.all_layers():
            if isinstance(l, Dropout):
                l.rng = self.rng


CLASSIFIER_LAYERS = ("fc8",)


def is_classifier(layer_name: str) -> bool:
    """fc8 and the MSc score layers: the freshly initialised classifiers (lr x10/x20)."""
    return layer_name in CLASSIFIER_LAYERS or layer_name.endswith("_score")


PIXEL_STD = 58.0
"""Standard deviation of mean-subtracted 0-255 ImageNet pixels (about 57-58 per channel)."""


def init_weights(model: Model, seed=0):
    """He-normal (MSRA) init for hidden convs, N(0, 0.01) for classifiers, zero biases.

    DeepLab initialised fc8 with a Gaussian of std 0.01; training from scratch
    needs a variance-preserving init for the other layers (He et al., 2015).
    The network takes 0-255 pixels minus the mean (std ~58), so the first layers
    on the image (conv1_1 and the MSc head on the data) are further divided by
    ``PIXEL_STD``: every activation is then of unit scale and DeepLab's learning
    rates train the net from scratch without blowing up fc8.
    """
    rng = np.random.default_rng(seed)
    xp = backend_xp()
    for l in model.all_layers():
        if "weight" not in l.params:
            continue
        w = l.params["weight"]
        fan_in = int(np.prod(w.shape[1:]))
        std = 0.01 if is_classifier(l.name) else math.sqrt(2.0 / fan_in)
        if l.name in ("conv1_1", "msc0_1"):
            std /= PIXEL_STD
        l.params["weight"] = xp.asarray(rng.normal(0.0, std, size=w.shape).astype(w.dtype))
        if "bias" in l.params:
            l.params["bias"] = xp.zeros(l.params["bias"].shape, dtype=w.dtype)


def build_model(name: str, num_classes=None, width=1.0, dtype=np.float32, seed=0) -> Model:
    """A model by its paper name: ``"VGG-16"`` (1000 classes by default) or one of
    ``VARIANTS`` (21 classes by default)."""
    if name == "VGG-16":
        return VGG16(1000 if num_classes is None else num_classes, width, dtype, seed)
    return DeepLab(name, 21 if num_classes is None else num_classes, width, dtype, seed)


