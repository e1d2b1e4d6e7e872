"""SGD with momentum (and Adam), weight decay, per-parameter multipliers, and lr schedules.

The update is Caffe's (``SGDSolver``), which DeepLab was trained with::

    g  = dW + weight_decay * decay_mult * W
    v  = momentum * v + lr * lr_mult * g
    W -= v

(PyTorch folds ``lr`` in after the momentum; the two agree while lr is constant.)

After each update both optimizers set the subnormal entries (below 1.2e-38 in float32) of the
weights and of their own state to zero (:mod:`minideeplab.subnormal`): weight decay drives
unused weights there, and every product with them is tens of times slower.

float32/float64 NumPy parameters are updated by one Numba pass each (:mod:`._optim_kernels`:
the same float operations in the same order, so the same bits as NumPy 2, which casts a Python
float to the array's dtype); the NumPy expressions in ``step`` update the rest: CuPy arrays, a
parameter or state array that is not C-contiguous or not writeable, a gradient of another shape
or dtype (``fused=False`` runs them everywhere: they are the kernels' twins in the tests).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ._validate import real_number
from ._numba import in_threads
from .backend import asnumpy, get_array_module
from .models.deeplab import is_classifier
from .subnormal import flush_subnormals

_FUSED_MIN_SPLIT = 1 << 17  # parameters with fewer entries are updated in one thread


def deeplab_multipliers(names, classifier_mult=10.0):
    """DeepLab's ``lr_mult`` / ``decay_mult`` per parameter name.

    Weights x1 with decay, biases x2 without decay; the classifiers (fc8 and the
    MSc score layers) x10 for weights and x20 for biases (``classifier_mult``:
    DeepLab fine-tunes ImageNet weights under a fresh classifier; from scratch
    the classifier needs no head start and 1 trains more stably).

    Returns
    -------
    (lr_mult, decay_mult) : two dicts ``name -> float``
    """
    classifier_mult = real_number(classifier_mult, "classifier_mult", 0.0)
    lr_mult, decay_mult = {}, {}
    for name in names:
        layer, kind = name.rsplit(".", 1)
        base = float(classifier_mult) if is_classifier(layer) else 1.0
        lr_mult[name] = base * (2.0 if kind == "bias" else 1.0)
        decay_mult[name] = 0.0 if kind == "bias" else 1.0
    return lr_mult, decay_mult


def _setup(opt, params, lr, weight_decay, lr_mult, decay_mult):
    """The checks and per-parameter multipliers that SGD and Adam share."""
    real_number(lr, "lr", 0.0, np.inf, high_open=True)
    real_number(weight_decay, "weight_decay", 0.0, np.inf, high_open=True)
    opt.params = OrderedDict(params)
    for kind, mults in (("lr_mult", lr_mult), ("decay_mult", decay_mult)):
        for name, v in (mults or {}).items():
            if name not in opt.params:
                raise ValueError(f"{kind} given for unknown parameter {name!r}")
            real_number(v, f"{kind}[{name!r}]", 0.0, np.inf, high_open=True)
    opt.lr, opt.weight_decay = float(lr), float(weight_decay)
    opt.lr_mult = {k: float((lr_mult or {}).get(k, 1.0)) for k in opt.params}
    opt.decay_mult = {k: float((decay_mult or {}).get(k, 1.0)) for k in opt.params}


def _zeros_like(params):
    return OrderedDict((k, get_array_module(v).zeros_like(v)) for k, v in params.items())


def _flat_for_kernel(w, g, *state):
    """``(w, g, *state)`` as flat arrays for a kernel of :mod:`._optim_kernels`, or None where
    the NumPy twin must run: not all NumPy, not one float32/float64 dtype, or ``w`` or a state
    array not C-contiguous (they are written in place; ``g``, only read, may be copied)."""
    arrays = (w, g) + state
    if not all(type(a) is np.ndarray and a.shape == w.shape for a in arrays):  # no subclasses
        return None
    if w.dtype not in (np.float32, np.float64) or any(a.dtype != w.dtype for a in arrays):
        return None
    if not all(a.flags.c_contiguous and a.flags.writeable for a in (w,) + state):
        return None
    return (w.reshape(-1), np.ascontiguousarray(g).reshape(-1)) + tuple(a.reshape(-1) for a in state)


def _run(kernel, flat, *scalars):
    """``kernel(*flat, *scalars, i0, i1)`` over the flat range, split over the threads when large."""
    in_threads(lambda i0, i1: kernel(*flat, *scalars, i0, i1), flat[0].size, min_rows=_FUSED_MIN_SPLIT)


class SGD:
    """Stochastic gradient descent with momentum (Caffe's update, see module doc).

    Parameters
    ----------
    params : ordered dict ``name -> array`` (e.g. ``model.params``); updated in place
    lr : base learning rate (a schedule may pass another to :meth:`step`)
    momentum, weight_decay : 0.9 and 5e-4 in DeepLab
    lr_mult, decay_mult : dicts ``name -> float`` (missing names: 1.0);
        see :func:`deeplab_multipliers`
    fused : True (default) updates float32/float64 NumPy parameters in one Numba pass each;
        False runs the NumPy expressions (the same bits, slower)
    """

    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=5e-4, lr_mult=None, decay_mult=None,
                 fused=True):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not isinstance(fused, bool):
            raise TypeError(f"fused must be True or False, got {fused!r}")
        _setup(self, params, lr, weight_decay, lr_mult, decay_mult)
        self.momentum = float(momentum)
        self.velocity = _zeros_like(self.params)
        self.fused = fused

    def step(self, grads, lr=None):
        """One update from ``grads`` (dict ``name -> array``, same keys as the params)."""
        lr = self.lr if lr is None else float(lr)
        for name, w in self.params.items():
            if name not in grads:
                raise KeyError(f"no gradient for parameter {name!r}")
            g = grads[name]
            wd = self.weight_decay * self.decay_mult[name]
            v = self.velocity[name]
            flat = _flat_for_kernel(w, g, v) if self.fused else None
            if flat is not None:
                from ._optim_kernels import sgd_range

                f = w.dtype.type
                _run(sgd_range, flat, bool(wd), f(wd), f(self.momentum), f(lr * self.lr_mult[name]),
                     f(np.finfo(w.dtype).tiny))
                continue
            if wd:
                g = g + wd * w
            v *= self.momentum
            v += (lr * self.lr_mult[name]) * g
            w -= v
            flush_subnormals(w)
            flush_subnormals(v)

    def state_dict(self):
        return OrderedDict((f"velocity/{k}", asnumpy(v)) for k, v in self.velocity.items())

    def load_state_dict(self, state):
        for k, v in self.velocity.items():
            v[...] = get_array_module(v).asarray(state[f"velocity/{k}"], dtype=v.dtype)


class Adam:
    """Adam (Kingma & Ba, 2015) with the same multipliers as :class:`SGD`.

    Weight decay is added to the gradient (L2, as ``torch.optim.Adam``)::

        g = dW + weight_decay * decay_mult * W
        m = b1 * m + (1 - b1) * g ;  v = b2 * v + (1 - b2) * g**2
        W -= lr * lr_mult * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

    Not part of DeepLab's recipe (fine-tuned with SGD from ImageNet weights), but a
    16-layer net trained from scratch without normalisation layers converges in
    far fewer iterations with it, which is what a CPU budget needs. ``fused`` as in :class:`SGD`.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 lr_mult=None, decay_mult=None, fused=True):
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not isinstance(fused, bool):
            raise TypeError(f"fused must be True or False, got {fused!r}")
        _setup(self, params, lr, weight_decay, lr_mult, decay_mult)
        self.fused = fused
        self.betas, self.eps = tuple(map(float, betas)), float(eps)
        self.t = 0
        self.m, self.v = _zeros_like(self.params), _zeros_like(self.params)

    def step(self, grads, lr=None):
        """One update from ``grads`` (dict ``name -> array``, same keys as the params)."""
        lr = self.lr if lr is None else float(lr)
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for name, w in self.params.items():
            if name not in grads:
                raise KeyError(f"no gradient for parameter {name!r}")
            xp = get_array_module(w)
            g = grads[name]
            wd = self.weight_decay * self.decay_mult[name]
            m, v = self.m[name], self.v[name]
            flat = _flat_for_kernel(w, g, m, v) if self.fused else None
            if flat is not None:
                from ._optim_kernels import adam_range

                f = w.dtype.type
                _run(adam_range, flat, bool(wd), f(wd), f(b1), f(1.0 - b1), f(b2), f(1.0 - b2),
                     f(lr * self.lr_mult[name] / c1), f(c2), f(self.eps), f(np.finfo(w.dtype).tiny))
                continue
            if wd:
                g = g + wd * w
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            w -= (lr * self.lr_mult[name] / c1) * m / (xp.sqrt(v / c2) + self.eps)
            for a in (w, m, v):
                flush_subnormals(a)

    def state_dict(self):
        state = OrderedDict((f"adam_m/{k}", asnumpy(v)) for k, v in self.m.items())
        state.update((f"adam_v/{k}", asnumpy(v)) for k, v in self.v.items())
        state["adam_t"] = np.array(self.t, np.int64)
        return state

    def load_state_dict(self, state):
        for k in self.params:
            self.m[k][...] = get_array_module(self.m[k]).asarray(state[f"adam_m/{k}"], dtype=self.m[k].dtype)
            self.v[k][...] = get_array_module(self.v[k]).asarray(state[f"adam_v/{k}"], dtype=self.v[k].dtype)
        self.t = int(state["adam_t"])


def poly_lr(base_lr: float, it: int, max_iter: int, power: float = 0.9) -> float:
    """DeepLab's "poly" policy: ``base_lr * (1 - it / max_iter) ** power``."""
    return base_lr * (1.0 - min(it, max_iter) / max_iter) ** power


def step_lr(base_lr: float, it: int, step_size: int, gamma: float = 0.1) -> float:
    """Caffe's "step" policy: ``base_lr * gamma ** (it // step_size)`` (x0.1 every N)."""
    return base_lr * gamma ** (it // step_size)


def make_schedule(policy: str, base_lr: float, *, max_iter=None, power=0.9, step_size=None, gamma=0.1):
    """A function ``it -> lr`` for ``policy`` in ``{"poly", "step", "fixed"}``."""
    real_number(base_lr, "base_lr", 0.0, np.inf, high_open=True)
    if policy == "poly":
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"the poly policy needs max_iter >= 1, got {max_iter!r}")
        real_number(power, "power", 0.0, np.inf, high_open=True)
        return lambda it: poly_lr(base_lr, it, max_iter, power)
    if policy == "step":
        if isinstance(step_size, bool) or not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"the step policy needs step_size >= 1, got {step_size!r}")
        real_number(gamma, "gamma", 0.0, np.inf, high_open=True)
        return lambda it: step_lr(base_lr, it, step_size, gamma)
    if policy == "fixed":
        return lambda it: base_lr
    raise ValueError(f"policy must be 'poly', 'step' or 'fixed', got {policy!r}")
