"""Stateful layers: each holds its parameters and gradients and wraps one op pair.

A layer has ``params`` and ``grads`` (dicts ``name -> array``), ``forward(x)``,
``backward(dout) -> dx`` (which *sets* ``grads``), and a ``training`` flag.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._validate import pair, positive_int
from ..backend import xp as backend_xp
from . import conv, direct, functional as F, pool, taps, winograd
from ._fast import takes_kernels


_EMPTY = object()  # "forward has not run since the last backward"
_GRAD = {"enabled": True}


class no_grad:
    """``with nn.no_grad(): model.forward(x)``: layers keep no cache for a backward pass (as
    ``torch.no_grad``), so inference holds one layer's arrays at a time, not the whole net's.
    A backward pass after such a forward raises ``RuntimeError``."""

    def __enter__(self):
        self._before = _GRAD["enabled"]
        _GRAD["enabled"] = False
        return self

    def __exit__(self, *exc):
        _GRAD["enabled"] = self._before
        return False


def grad_enabled() -> bool:
    """False inside ``with no_grad():``."""
    return _GRAD["enabled"]


class Layer:
    """Base class: no parameters, identity in both directions."""

    kind = "layer"

    def __init__(self, name: str = ""):
        self.name = name
        self.params: "OrderedDict[str, object]" = OrderedDict()
        self.grads: "OrderedDict[str, object]" = OrderedDict()
        self.training = True
        self._cache = _EMPTY

    def forward(self, x):  # pragma: no cover - overridden
        return x

    def backward(self, dout):  # pragma: no cover - overridden
        return dout

    def __call__(self, x):
        return self.forward(x)

    def _keep(self, out_and_cache):
        """Keep the cache of an op's ``(out, cache)`` for the backward pass (not under
        :class:`no_grad`); return ``out``."""
        out, cache = out_and_cache
        self._cache = cache if _GRAD["enabled"] else _EMPTY
        return out

    def _need_cache(self):
        if self._cache is _EMPTY:
            raise RuntimeError(f"{self.name or type(self).__name__}: backward() called before forward() "
                               "(or after a forward under no_grad)")
        cache, self._cache = self._cache, _EMPTY
        return cache

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class Conv2d(Layer):
    """Convolution with stride, padding and dilation; weight ``(out, in, kh, kw)``.

    Four algorithms compute it, each a forward/backward pair: im2col + GEMM
    (:func:`.conv.conv2d_im2col_forward`: any geometry, NumPy or CuPy), Winograd's
    F(2x2, 3x3) (:func:`.winograd.conv2d_winograd_forward`: 3x3, stride 1, padding = dilation,
    fewer multiplications), the direct sum (:func:`.direct.conv2d_direct_forward`: the same
    geometry, no column matrix; for few channels) and one product per kernel tap
    (:func:`.taps.conv2d_taps_forward`: stride 1, NumPy or CuPy; skips the reads that land in
    the padding, for atrous layers on small maps). All give the same result up to rounding.
    ``algorithm`` says which one :meth:`forward` runs (:meth:`algorithm_for` is the rule;
    :meth:`backward` runs the twin of the pair the last forward ran):

    * ``"auto"`` (default): ``"direct"`` where :func:`.direct.applies` (a float32/float64 NumPy
      input, 3x3, stride 1, padding = dilation, at most ``direct.MAX_CHANNELS`` input and output
      channels), ``"winograd"`` where :func:`.winograd.applies` (the same geometry without
      dilation, at least ``winograd.MIN_CHANNELS`` input and output channels, a map of at least
      ``winograd.MIN_SIZE`` pixels each way), ``"taps"`` where :func:`.taps.applies` (stride 1,
      dilated, at most ``taps.MAX_INSIDE`` of the kernel's reads inside the map: fc6 on the maps
      of training crops), ``"im2col"`` everywhere else;
    * ``"im2col"``, ``"winograd"``, ``"direct"`` or ``"taps"``: always that one (where it fits).
    """

    kind = "conv"
    ALGORITHMS = ("auto", "im2col", "winograd", "direct", "taps")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, name="", dtype=np.float32, algorithm="auto"):
        super().__init__(name)
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.dilation = pair(dilation, "dilation", 1)
        xp = backend_xp()
        self.params["weight"] = xp.zeros((out_channels, in_channels) + self.kernel_size, dtype=dtype)
        if bias:
            self.params["bias"] = xp.zeros((out_channels,), dtype=dtype)
        self.algorithm = algorithm
        self._check_algorithm()
        self.last_algorithm = None  # the pair the last forward ran
        self._bias_grad = False  # the last forward left the bias to its output pass

    def _check_algorithm(self):
        if self.algorithm not in self.ALGORITHMS:
            raise ValueError(f"algorithm must be one of {self.ALGORITHMS}, got {self.algorithm!r}")
        if self.algorithm in ("winograd", "direct") and not winograd.fits(self.kernel_size, self.stride,
                                                                           self.padding, self.dilation):
            name = "Winograd" if self.algorithm == "winograd" else "direct"
            raise ValueError(f"{self!r}: the {name} pair needs a 3x3 kernel, stride 1 and padding = dilation")
        if self.algorithm == "taps" and self.stride != (1, 1):
            raise ValueError(f"{self!r}: the taps pair needs stride 1")

    def algorithm_for(self, x):
        """``"im2col"``, ``"winograd"``, ``"direct"`` or ``"taps"``: the pair :meth:`forward` runs for ``x``."""
        self._check_algorithm()
        if self.algorithm != "auto":
            return self.algorithm
        w = self.params["weight"]
        if direct.applies(x, w, self.stride, self.padding, self.dilation):
            return "direct"
        if winograd.applies(x, w, self.stride, self.padding, self.dilation):
            return "winograd"
        return "taps" if taps.applies(x, w, self.stride, self.padding, self.dilation) else "im2col"

    def forward(self, x, relu=None):
        """``(N, C, H, W)`` -> ``(N, F, H', W')``.

        ``relu``: the :class:`ReLU` layer that takes this layer's output (:func:`fused` pairs
        them). Its op then runs in the output pass: the bias added and the maximum taken in
        one pass over the output, in place (:func:`.functional.bias_relu_`), instead of one
        pass for the bias and one for the ReLU; ``relu`` keeps the mask for its backward pass.
        Returns the ReLU's output, the same bits as ``relu.forward(self.forward(x))``. CuPy and
        float16 arrays (no kernel) and a bias of another dtype than ``x`` run the two layers
        one after the other."""
        if relu is not None and type(relu) is not ReLU:
            raise TypeError(f"relu must be a ReLU layer or None, got {type(relu).__name__}")
        w, b = self.params["weight"], self.params.get("bias")
        algorithm = self.algorithm_for(x)
        fuse = relu is not None and takes_kernels(x) and (b is None or b.dtype == x.dtype)
        bias_in_op = not fuse or algorithm == "direct"  # the direct kernel adds it for free
        b_op = b if bias_in_op else None
        if algorithm == "winograd":
            out = self._keep(winograd.conv2d_winograd_forward(x, w, b_op, self.dilation[0]))
        elif algorithm == "direct":
            out = self._keep(direct.conv2d_direct_forward(x, w, b_op, self.dilation[0]))
        elif algorithm == "taps":
            out = self._keep(taps.conv2d_taps_forward(x, w, b_op, self.padding, self.dilation))
        else:
            out = self._keep(conv.conv2d_im2col_forward(x, w, b_op, self.stride, self.padding, self.dilation))
        self.last_algorithm = algorithm
        self._bias_grad = b is not None and not bias_in_op  # the op computes no bias gradient: backward does
        if relu is None:
            return out
        if not fuse:
            return relu.forward(out)
        out = np.ascontiguousarray(out)
        relu._took(F.bias_relu_(out, None if bias_in_op else b, mask=_GRAD["enabled"]))
        return out

    def backward(self, dout, input_grad=True):
        """Sets ``grads``; returns dx, or None with ``input_grad=False`` (a first layer)."""
        cache = self._need_cache()
        if self.last_algorithm == "winograd":
            dx, dw, db = winograd.conv2d_winograd_backward(dout, cache, input_grad)
        elif self.last_algorithm == "direct":
            dx, dw, db = direct.conv2d_direct_backward(dout, cache, input_grad)
        elif self.last_algorithm == "taps":
            dx, dw, db = taps.conv2d_taps_backward(dout, cache, input_grad)
        else:
            dx, dw, db = conv.conv2d_im2col_backward(dout, cache, input_grad)
        if self._bias_grad:  # the output pass added the bias (forward with relu=): its gradient is summed here
            db = dout.sum(axis=(0, 2, 3))
        self.grads["weight"] = dw
        if db is not None:
            self.grads["bias"] = db
        return dx

    def __repr__(self):
        return (f"Conv2d({self.name!r}, {self.in_channels}->{self.out_channels}, "
                f"k={self.kernel_size}, s={self.stride}, p={self.padding}, d={self.dilation})")


class ReLU(Layer):
    """``max(x, 0)``; keeps the mask ``x > 0`` for the backward pass (under :class:`no_grad`:
    no mask)."""

    kind = "relu"

    def forward(self, x):
        if _GRAD["enabled"]:
            return self._keep(F.relu_forward(x))
        self._cache = _EMPTY
        return F.relu_values(x)

    def backward(self, dout):
        return F.relu_backward(dout, self._need_cache())

    def _took(self, mask):
        """The mask of this ReLU, run by the convolution before it (:meth:`Conv2d.forward`)."""
        self._cache = mask if _GRAD["enabled"] else _EMPTY


class _Pool(Layer):
    kind = "pool"
    _fwd = _bwd = None

    def __init__(self, kernel_size, stride=None, padding=0, name=""):
        super().__init__(name)
        self.kernel_size = pair(kernel_size, "kernel_size", 1)
        self.stride = pair(stride if stride is not None else kernel_size, "stride", 1)
        self.padding = pair(padding, "padding", 0)
        self.dilation = (1, 1)

    def forward(self, x):
        return self._keep(type(self)._fwd(x, self.kernel_size, self.stride, self.padding))

    def backward(self, dout):
        return type(self)._bwd(dout, self._need_cache())

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, k={self.kernel_size}, s={self.stride}, p={self.padding})"


class MaxPool2d(_Pool):
    """Max pooling with Caffe's ceil rounding (under :class:`no_grad`: the values alone, no
    winners' indices kept)."""

    _fwd = staticmethod(pool.maxpool2d_forward)
    _bwd = staticmethod(pool.maxpool2d_backward)

    def forward(self, x):
        if _GRAD["enabled"]:
            return super().forward(x)
        self._cache = _EMPTY
        return pool.maxpool2d_values(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Average pooling with Caffe's ceil rounding and divisor."""

    _fwd = staticmethod(pool.avgpool2d_forward)
    _bwd = staticmethod(pool.avgpool2d_backward)


class Dropout(Layer):
    """Inverted dropout; identity in eval mode. ``rng`` is a ``numpy.random.Generator``."""

    kind = "dropout"

    def __init__(self, p=0.5, rng=None, name=""):
        super().__init__(name)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x):
        return self._keep(F.dropout_forward(x, self.p, self.rng, self.training))

    def backward(self, dout):
        return F.dropout_backward(dout, self._need_cache())


FUSE_RELU = True
""":func:`fused` pairs each convolution with the ReLU after it (False: every layer on its own,
for an A/B: ``benchmarks/bench_fuse.py``). Widths 1/8 and 1/4, batch 8, crop 129: the training iteration
1.6-1.9% faster with it, the forward pass under ``no_grad`` 4.2-5.2% (``benchmarks/RESULTS.md``)."""


def fused(layers, keep=()):
    """``(layer, relu)`` for the layers in order: ``relu`` the :class:`ReLU` that follows a
    :class:`Conv2d` and runs in its output pass (``layer.forward(x, relu=relu)``), else None. A
    fused ReLU is not yielded again. ``keep``: names of layers whose own output is read
    elsewhere (a side head's tap): those are not fused."""
    i = 0
    while i < len(layers):
        layer = layers[i]
        relu = layers[i + 1] if i + 1 < len(layers) else None
        if FUSE_RELU and isinstance(layer, Conv2d) and type(relu) is ReLU and layer.name not in keep:
            yield layer, relu
            i += 2
        else:
            yield layer, None
            i += 1


def forward_fused(layer, relu, x):
    """One step of :func:`fused`: ``layer.forward(x)``, or with the ReLU in its output pass."""
    return layer.forward(x) if relu is None else layer.forward(x, relu=relu)


class Sequential(Layer):
    """Layers applied in order; parameters are named ``"<layer name>.<param>"``."""

    kind = "sequential"

    def __init__(self, layers, name=""):
        super().__init__(name)
        self.layers = list(layers)
        names = [l.name for l in self.layers if l.params]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")

    def forward(self, x):
        for layer, relu in fused(self.layers):
            x = forward_fused(layer, relu, x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def named_layers(self):
        return [(l.name, l) for l in self.layers]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)


