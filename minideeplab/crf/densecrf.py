"""A drop-in replacement for ``pydensecrf.densecrf``.

Existing code runs by changing the import::

    import minideeplab.crf.densecrf as dcrf          # was: import pydensecrf.densecrf as dcrf
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(U)                              # (L, W*H) float, -log probabilities
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=img, compat=10)
    Q = np.array(d.inference(5))                     # (L, W*H)

Same names, argument names, shapes and sign conventions: a scalar ``compat`` is Potts
(it *rewards* equal labels with weight w), a vector a diagonal compatibility and a matrix
a full one (symmetrised, ``(M + M.T) / 2``, as pydensecrf does), both entering as
``E = -U - compat @ (K Q)``. Unlike pydensecrf, float64 and
non-contiguous arrays are accepted, images may have any number of channels, and
``DenseCRF`` takes feature sets of any dimension (3-D volumes, video).
"""
from __future__ import annotations

import numpy as np

from ._checks import check_n_iter, check_positive
from .meanfield import mean_field_energies
from .pairwise import NO_NORMALIZATION, NORMALIZE_AFTER, NORMALIZE_BEFORE, NORMALIZE_SYMMETRIC, GaussianKernel
from .softmax import softmax_into

MAX_UNARY = 1e30
"""Largest |unary energy| accepted: inference runs in float32 (max 3.4e38)."""
CONST_KERNEL, DIAG_KERNEL, FULL_KERNEL = 0, 1, 2
"""pydensecrf's kernel types. They choose how pydensecrf *learns* a kernel's feature
transform (none, per-feature scales, a full matrix); inference is the same for all three,
here as in pydensecrf, so they are accepted (and checked) for compatibility."""

__all__ = ["DenseCRF", "DenseCRF2D", "CONST_KERNEL", "DIAG_KERNEL", "FULL_KERNEL", "NO_NORMALIZATION",
           "NORMALIZE_BEFORE", "NORMALIZE_AFTER", "NORMALIZE_SYMMETRIC"]


def compat_matrix(compat, L):
    """A pairwise term's compatibility in pydensecrf's convention, as the (L, L) mu of
    ``meanfield.mean_field_energies`` (``E = -U - (K Q) mu^T``).

    A scalar c is Potts and *rewards* equal labels (mu = -c I), an (L,) vector a diagonal,
    an (L, L) matrix a full compatibility of which, like pydensecrf, only the symmetric part
    counts.
    """
    c = np.asarray(compat)
    if not (np.issubdtype(c.dtype, np.number) or c.dtype == bool) or np.iscomplexobj(c):
        raise TypeError(f"compat must be a number, an ({L},) vector or an ({L}, {L}) matrix, got {compat!r}")
    c = c.astype(np.float64)
    if not np.all(np.isfinite(c)):
        raise ValueError("compat contains NaN or infinite values")
    if c.ndim == 0:
        return -float(c) * np.eye(L)
    if c.shape == (L,):
        return np.diag(c)
    if c.shape == (L, L):
        return 0.5 * (c + c.T)
    raise ValueError(f"compat must be a scalar (Potts), an ({L},) vector or an ({L}, {L}) matrix, got shape {c.shape}")


class DenseCRF:
    """A fully connected CRF over ``n_var`` variables with ``n_labels`` labels.

    Pairwise terms come from :meth:`addPairwiseEnergy` with features of any dimension.
    """

    def __init__(self, n_var, n_labels):
        for name, v in (("n_var", n_var), ("n_labels", n_labels)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.N, self.L = int(n_var), int(n_labels)
        self._unary = None
        self._kernels, self._compats = [], []  # one GaussianKernel and (L, L) mu per pairwise term

    # ------------------------------------------------------------ model
    def setUnaryEnergy(self, unary):
        """Unary energies ``(n_labels, n_var)`` (e.g. ``-log P``)."""
        u = np.asarray(unary)
        if not np.issubdtype(u.dtype, np.number) or np.iscomplexobj(u):
            raise TypeError(f"unary must be a real numeric array, got dtype {u.dtype}")
        if u.shape != (self.L, self.N):
            raise ValueError(f"unary must have shape ({self.L}, {self.N}), got {u.shape}")
        u = u.astype(np.float64)
        top = float(np.abs(u).max())
        if not top <= MAX_UNARY:  # NaN fails too
            raise ValueError(f"unary must be finite and within {MAX_UNARY:g} in magnitude (inference runs in "
                             f"float32), got values up to {top:.3g}")
        self._unary = u

    setUnary = setUnaryEnergy

    def addPairwiseEnergy(self, features, compat, kernel=DIAG_KERNEL, normalization=NORMALIZE_SYMMETRIC):
        """A Gaussian pairwise term over ``features`` ``(d, n_var)`` (already scaled)."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.N:
            raise ValueError(f"features must have shape (d, {self.N}), got {f.shape}")
        if kernel not in (CONST_KERNEL, DIAG_KERNEL, FULL_KERNEL):
            raise ValueError(f"kernel must be CONST_KERNEL, DIAG_KERNEL or FULL_KERNEL, got {kernel!r}")
        mu = compat_matrix(compat, self.L)
        self._kernels.append(GaussianKernel(f.T, normalization, "lattice"))
        self._compats.append(mu)

    # ------------------------------------------------------------ inference
    def _need_unary(self):
        if self._unary is None:
            raise RuntimeError("call setUnaryEnergy before inference")
        return self._unary

    def startInference(self):
        """``(Q, tmp1, tmp2)``: Q = softmax(-U), as in pydensecrf."""
        U = self._need_unary()
        Q = softmax_into((-U.T).astype(np.float32), np.empty((self.N, self.L), np.float32))
        return Q.T.copy(), np.zeros((self.L, self.N), np.float32), np.zeros((self.L, self.N), np.float32)

    def stepInference(self, Q, tmp1, tmp2):
        """One mean-field update of ``Q`` ``(n_labels, n_var)``, in place."""
        U = self._need_unary()
        q = np.asarray(Q, dtype=np.float32).T
        energies = mean_field_energies(-U.T, q, self._kernels, self._compats)
        tmp1[...] = energies.T
        Q[...] = softmax_into(energies.astype(np.float32), np.empty_like(q)).T

    def inference(self, n_iterations):
        """``n_iterations`` mean-field updates; returns Q ``(n_labels, n_var)`` float32."""
        n = check_n_iter(n_iterations)
        Q, tmp1, tmp2 = self.startInference()
        for _ in range(n):
            self.stepInference(Q, tmp1, tmp2)
        return Q

    def klDivergence(self, Q):
        """pydensecrf's KL divergence (up to a constant): ``sum Q log Q + sum U Q + sum_k Q . (K_k Q) mu_k^T``."""
        U = self._need_unary()
        q = np.asarray(Q, dtype=np.float64)
        if q.shape != (self.L, self.N):
            raise ValueError(f"Q must have shape ({self.L}, {self.N}), got {q.shape}")
        kl = float((q * np.log(np.maximum(q, 1e-20))).sum() + (U * q).sum())
        for kernel, mu in zip(self._kernels, self._compats):
            kl += float((q.T * (np.asarray(kernel.apply(q.T.astype(np.float32)), np.float64) @ mu.T)).sum())
        return kl


def _positive_pair(v, name):
    """(vx, vy) from a positive number or a pair of them."""
    pair = (v, v) if np.ndim(v) == 0 else tuple(v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be a positive number or a pair of them, got {v!r}")
    check_positive(**{f"{name}[{i}]": p for i, p in enumerate(pair)})
    return float(pair[0]), float(pair[1])


class DenseCRF2D(DenseCRF):
    """A dense CRF over the pixels of a ``width`` x ``height`` image (pixel order: row-major)."""

    def __init__(self, width, height, n_labels):
        for name, v in (("width", width), ("height", height)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        super().__init__(int(width) * int(height), n_labels)
        self.W, self.H = int(width), int(height)

    def _positions(self, sxy):
        sx, sy = _positive_pair(sxy, "sxy")
        yy, xx = np.mgrid[0:self.H, 0:self.W]
        return [xx.reshape(-1) / sx, yy.reshape(-1) / sy]

    def addPairwiseGaussian(self, sxy=(3, 3), compat=3, kernel=DIAG_KERNEL, normalization=NORMALIZE_SYMMETRIC):
        """The smoothness kernel over positions ``[x / sx, y / sy]``."""
        self.addPairwiseEnergy(np.stack(self._positions(sxy)), compat, kernel, normalization)

    def addPairwiseBilateral(self, sxy=(80, 80), srgb=(13, 13, 13), rgbim=None, compat=10, kernel=DIAG_KERNEL,
                             normalization=NORMALIZE_SYMMETRIC):
        """The appearance kernel over ``[x / sx, y / sy, I_c / s_c ...]``; ``rgbim`` (H, W, C), any C."""
        if rgbim is None:
            raise ValueError("rgbim is required: an (H, W, C) image")
        im = np.asarray(rgbim)
        if im.ndim == 2:
            im = im[:, :, None]
        if im.ndim != 3 or im.shape[:2] != (self.H, self.W):
            raise ValueError(f"rgbim must have shape ({self.H}, {self.W}, C), got {im.shape}")
        if not np.issubdtype(im.dtype, np.number) or np.iscomplexobj(im):
            raise TypeError(f"rgbim must be a real numeric image, got dtype {im.dtype}")
        C = im.shape[2]
        s = np.asarray(srgb, dtype=object)
        if s.ndim > 1 or (s.ndim == 1 and len(s) != C):
            raise ValueError(f"srgb must be a scalar or have one value per channel ({C}), got {srgb!r}")
        s = np.broadcast_to(s, (C,))
        check_positive(**{f"srgb[{c}]": s[c] for c in range(C)})
        s = s.astype(np.float64)
        chans = [im[:, :, c].reshape(-1).astype(np.float64) / s[c] for c in range(C)]
        self.addPairwiseEnergy(np.stack(self._positions(sxy) + chans), compat, kernel, normalization)
