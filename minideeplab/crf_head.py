"""DCNN + fully connected CRF trained end to end (CRF-as-RNN, Zheng et al., ICCV 2015).

:class:`CRFHead` is the loss a :class:`~minideeplab.train.Trainer` uses with
``TrainConfig(crf_head=True)``: the network's scores on its stride-8 grid are resized
bilinearly to a downsampled copy of the training crop, ``T`` mean-field iterations of the fully
connected CRF (:class:`minideeplab.nn.DenseCRF`) turn them into beliefs Q, and the loss is the
pixel cross-entropy of Q. Its backward pass gives the gradient of the network's scores (through
the unrolled mean field and the interpolation) and of the CRF's own parameters (the two kernel
weights and a full compatibility matrix), so the net learns to produce scores that the CRF
refines well, and the CRF learns from the net's errors.

On a CPU the CRF runs on the crop resized by ``scale`` (0.5: a 129-px crop gives 65 x 65
CRFs). The kernels' spatial standard deviations are given, as everywhere in the library, in
pixels of the full-resolution image and scaled by ``scale`` here, and the kernels are
normalised (``normalization="symmetric"``), so the learned weights apply unchanged to the
full-resolution CRF of :func:`minideeplab.crf.dense_crf` at test time.
"""
from __future__ import annotations

import numpy as np

from ._validate import real_number
from .nn import functional as F
from .nn.crf_layer import DenseCRF

IGNORE_INDEX = 255


def crf_size(size, scale):
    """The side of the CRF's grid for a crop side ``size``: ``ceil(scale * size)``, >= 2."""
    return max(2, int(np.ceil(scale * size - 1e-9)))


class CRFHead:
    """Scores -> bilinear resize -> mean-field CRF -> cross-entropy of Q.

    Parameters
    ----------
    num_classes : L
    scale : size of the CRF grid relative to the crop, in (0, 1]
    n_iter : mean-field iterations (5, as CRF-as-RNN trains)
    init : dense CRF parameters to start from (``w_bilateral``, ``w_gaussian``, ``theta_*``,
        ``compat``: "potts", (L, L) or a (2, L, L) pair, ``bias``: None or (L,), a learned CRF's
        label prior, then trained too); defaults of :func:`minideeplab.crf.dense_crf`
    class_weights : None or (L,) weights of the pixels of each class in the loss
    method : "lattice" (training) or "exact" (gradient checks on tiny inputs)

    ``params`` / ``grads`` are those of the CRF layer (``w_bilateral``, ``w_gaussian``,
    ``compat``, and ``bias`` when ``init`` has one).
    """

    def __init__(self, num_classes, scale=0.5, n_iter=5, init=None, class_weights=None, method="lattice"):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.scale = real_number(scale, "scale", 0.0, 1.0, low_open=True)
        if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
            raise ValueError(f"n_iter must be a positive int, got {n_iter!r}")
        p = dict(w_bilateral=4.0, w_gaussian=3.0, theta_alpha=121.0, theta_beta=5.0, theta_gamma=3.0,
                 compat="potts", bias=None)
        unknown = set(init or {}) - set(p) - {"n_iter"}
        if unknown:
            raise ValueError(f"init has unknown CRF parameters {sorted(unknown)}; expected some of {sorted(p)}")
        p.update({k: v for k, v in (init or {}).items() if k != "n_iter"})
        self.thetas = {k: float(p[k]) for k in ("theta_alpha", "theta_beta", "theta_gamma")}
        self.num_classes, self.n_iter = int(num_classes), int(n_iter)
        self.crf = DenseCRF(num_classes, n_iter, p["w_bilateral"], p["w_gaussian"],
                            theta_alpha=self.thetas["theta_alpha"] * self.scale, theta_beta=self.thetas["theta_beta"],
                            theta_gamma=self.thetas["theta_gamma"] * self.scale, compat=p["compat"], method=method,
                            bias=p["bias"])
        self.class_weights = (None if class_weights is None
                              else F._check_class_weights(class_weights, self.num_classes, np, np.float64))
        self._cache = None

    @property
    def params(self):
        return self.crf.params

    @property
    def grads(self):
        return self.crf.grads

    def dense_crf_params(self, n_iter=None):
        """Keyword arguments of :func:`minideeplab.crf.dense_crf` for the learned CRF at full resolution."""
        w = self.crf._weights()
        out = dict(n_iter=int(n_iter or self.n_iter), **w, **self.thetas,
                   compat=np.asarray(self.params["compat"]).tolist())
        if "bias" in self.params:
            out["bias"] = self.params["bias"].tolist()
        return out

    def forward(self, scores, images, labels):
        """Loss of one batch.

        Parameters
        ----------
        scores : (N, L, h, w) the network's scores (any float dtype; the CRF runs in it)
        images : (N, H, W, 3) the crops as RGB (uint8 or float in [0, 255])
        labels : (N, H, W) integer labels of the crops, ``255`` = void

        Returns
        -------
        loss : float, ``-sum_i c[y_i] log Q_i(y_i) / sum_i c[y_i]`` over the non-void pixels of
            the CRF grid (c = 1 without class weights)
        """
        scores, images, labels = np.asarray(scores), np.asarray(images), np.asarray(labels)
        if scores.ndim != 4 or scores.shape[1] != self.num_classes:
            raise ValueError(f"scores must be (N, {self.num_classes}, h, w), got {scores.shape}")
        if images.ndim != 4 or images.shape[3] != 3 or images.shape[0] != scores.shape[0]:
            raise ValueError(f"images must be (N, H, W, 3) with N = {scores.shape[0]}, got {images.shape}")
        if labels.shape != images.shape[:3] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape {images.shape[:3]}, got {labels.dtype} {labels.shape}")
        if not np.issubdtype(scores.dtype, np.floating) or not np.all(np.isfinite(scores)):
            raise ValueError(f"scores must be finite floating-point numbers, got dtype {scores.dtype}"
                             + ("" if not np.issubdtype(scores.dtype, np.floating) else " with NaN or inf"))
        if not np.all(np.isfinite(images)):
            raise ValueError("images contains NaN or infinite values")
        H, W = images.shape[1:3]
        size = (crf_size(H, self.scale), crf_size(W, self.scale))
        small, interp_cache = F.interp_forward(scores, size)
        rgb, _ = F.interp_forward(images.transpose(0, 3, 1, 2).astype(np.float64), size)
        rgb = np.clip(rgb.transpose(0, 2, 3, 1), 0.0, 255.0)
        target = F.shrink_labels(labels, size)
        Q = self.crf.forward(small, rgb)
        valid = target != IGNORE_INDEX
        bad = valid & (target >= self.num_classes)
        if bad.any():
            raise ValueError(f"labels must be in [0, {self.num_classes}) or 255; found {sorted(set(target[bad].tolist()))}")
        y = np.where(valid, target, 0)
        weight = valid.astype(np.float64) if self.class_weights is None else self.class_weights[y] * valid
        norm = max(float(weight.sum()), 1e-12)
        q = np.take_along_axis(Q, y[:, None], axis=1)[:, 0]
        q = np.maximum(q.astype(np.float64), 1e-12)
        loss = float(-(weight * np.log(q)).sum() / norm)
        self._cache = (Q, y, weight, norm, q, interp_cache)
        return loss

    def backward(self):
        """Gradient of the last :meth:`forward`'s loss w.r.t. its scores; sets ``grads``."""
        if self._cache is None:
            raise RuntimeError("backward() called before forward()")
        Q, y, weight, norm, q, interp_cache = self._cache
        self._cache = None
        dQ = np.zeros_like(Q)
        np.put_along_axis(dQ, y[:, None], (-(weight / (q * norm)))[:, None].astype(Q.dtype), axis=1)
        dsmall = self.crf.backward(dQ)
        return F.interp_backward(dsmall.astype(Q.dtype), interp_cache)
