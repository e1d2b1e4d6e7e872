"""The fully connected CRF as a layer with learnable weights (CRF-as-RNN, Zheng et al. 2015).

``DenseCRF`` holds the kernel weights w_bilateral, w_gaussian and the label compatibility
matrix mu as parameters, and wraps :func:`minideeplab.crf.dense_crf_forward` /
:func:`~minideeplab.crf.dense_crf_backward`. Put after a network's upsampled scores, it turns
them into beliefs Q with the unary U = -scores (so that with zero weights Q = softmax(scores)),
and its backward pass gives the gradients of its parameters and of the scores.
"""
from __future__ import annotations

import numpy as np

from ..crf._checks import compat_matrix, label_bias
from .layers import Layer


class DenseCRF(Layer):
    """Mean-field fully connected CRF head.

    Parameters
    ----------
    num_classes : L
    n_iter : mean-field iterations (5 in CRF-as-RNN's training)
    w_bilateral, w_gaussian : initial kernel weights (parameters, kept >= 0: a negative value
        after an optimizer step counts as 0 in the forward pass, and gets no gradient)
    theta_alpha, theta_beta, theta_gamma : the kernels' standard deviations (fixed features)
    compat : initial compatibility (a parameter): "potts" (1 - I) or an (L, L) array shared by the
        kernels, or a (2, L, L) pair, one matrix per kernel (bilateral, Gaussian)
    method : "lattice" or "exact"
    bias : None (no such parameter), or the initial (L,) per-label bias b (a parameter) added to
        the scores before the mean field: ``dense_crf``'s ``bias``, a learned label prior

    ``forward(scores, images)``: scores (N, L, H, W), images (N, H, W, C) -> Q (N, L, H, W);
    ``backward(dQ)`` -> dscores, and sets ``grads``.
    """

    kind = "crf"

    def __init__(self, num_classes, n_iter=5, w_bilateral=4.0, w_gaussian=3.0, theta_alpha=121.0, theta_beta=5.0,
                 theta_gamma=3.0, compat="potts", method="lattice", bias=None, name="crf"):
        super().__init__(name)
        L = int(num_classes)
        if L < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        mu = compat_matrix(compat, L)  # checked: None for "potts"
        mu = 1.0 - np.eye(L) if mu is None else mu
        self.params["w_bilateral"] = np.array(float(w_bilateral))
        self.params["w_gaussian"] = np.array(float(w_gaussian))
        self.params["compat"] = mu.copy()
        if bias is not None:
            self.params["bias"] = label_bias(bias, L, np.float64)
        self.n_iter, self.method = n_iter, method
        self.thetas = dict(theta_alpha=theta_alpha, theta_beta=theta_beta, theta_gamma=theta_gamma)

    def _weights(self):
        return {k: max(float(self.params[k]), 0.0) for k in ("w_bilateral", "w_gaussian")}

    def forward(self, scores, images):
        from ..crf.unrolled import dense_crf_forward

        scores, images = np.asarray(scores), np.asarray(images)
        if scores.ndim != 4 or images.ndim != 4 or images.shape[:3] != (scores.shape[0],) + scores.shape[2:]:
            raise ValueError(f"scores must be (N, L, H, W) and images (N, H, W, C) with the same N, H, W; "
                             f"got {scores.shape} and {images.shape}")
        w = self._weights()
        if "bias" in self.params:
            scores = scores + self.params["bias"].astype(scores.dtype)[:, None, None]
        outs, caches = [], []
        for s, image in zip(scores, images):
            Q, cache = dense_crf_forward(image, -s, n_iter=self.n_iter, compat=self.params["compat"],
                                         method=self.method, **w, **self.thetas)
            outs.append(Q)
            caches.append(cache)
        return self._keep((np.stack(outs), (caches, w)))

    def backward(self, dQ):
        from ..crf.unrolled import dense_crf_backward

        caches, w = self._need_cache()
        dQ = np.asarray(dQ)
        if dQ.shape[0] != len(caches):
            raise ValueError(f"dQ must have the forward output's batch size {len(caches)}, got {dQ.shape}")
        dscores = []
        grads = {"w_bilateral": 0.0, "w_gaussian": 0.0, "compat": np.zeros_like(self.params["compat"])}
        for d, cache in zip(dQ, caches):
            g = dense_crf_backward(d, cache)
            dscores.append(-g["unary"])
            for k in ("w_bilateral", "w_gaussian"):
                grads[k] += g[k] if w[k] > 0 or float(self.params[k]) == 0 else 0.0  # clamped below 0: none
            grads["compat"] += g["compat"]
        self.grads["w_bilateral"] = np.array(grads["w_bilateral"])
        self.grads["w_gaussian"] = np.array(grads["w_gaussian"])
        self.grads["compat"] = grads["compat"]
        dscores = np.stack(dscores)
        if "bias" in self.params:
            self.grads["bias"] = dscores.sum(axis=(0, 2, 3)).astype(np.float64)
        return dscores
