"""Textons: the vocabulary of filter-bank responses (Malik et al. 2001; Shotton et al. 2009).

The 17 responses of :func:`.filterbank.filter_bank` are standardised (each divided by its
standard deviation over the training pixels, after subtracting its mean) and clustered by
k-means; a pixel's texton is the index of the nearest cluster centre. TextonBoost uses
K = 400.
"""
from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2


class Textons:
    """A fitted texton vocabulary: ``mean``, ``scale`` (17,) and ``centers`` (K, 17), standardised."""

    def __init__(self, mean, scale, centers):
        self.mean = np.asarray(mean, np.float32)
        self.scale = np.asarray(scale, np.float32)
        self.centers = np.asarray(centers, np.float32)

    @property
    def k(self):
        return self.centers.shape[0]

    @classmethod
    def fit(cls, responses, k=400, seed=0, iters=30):
        """k-means (k-means++ start, ``iters`` Lloyd steps) over ``responses`` (M, D) samples."""
        x = np.asarray(responses, np.float64)
        if x.ndim != 2 or x.shape[0] < k:
            raise ValueError(f"responses must be (M, D) with M >= k = {k}, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("responses contain NaN or infinite values")
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        centers, _ = kmeans2(z, k, iter=iters, minit="++", seed=np.random.default_rng(seed))
        return cls(mean, scale, centers)

    def assign(self, responses, chunk=1 << 15):
        """Nearest texton of each response vector: (..., D) -> (...) int16."""
        r = np.asarray(responses, np.float32)
        flat = ((r.reshape(-1, r.shape[-1]) - self.mean) / self.scale).astype(np.float32)
        c = self.centers
        c2 = (c * c).sum(axis=1)
        out = np.empty(flat.shape[0], np.int16)
        for a in range(0, flat.shape[0], chunk):  # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, |x|^2 the same for all c
            out[a:a + chunk] = np.argmin(c2[None, :] - 2.0 * flat[a:a + chunk] @ c.T, axis=1)
        return out.reshape(r.shape[:-1])

    def state(self):
        return {"texton_mean": self.mean, "texton_scale": self.scale, "texton_centers": self.centers}


def sample_responses(responses, per_image, rng):
    """``per_image`` random pixels' responses from each (H, W, D) array: (n * per_image, D)."""
    out = []
    for r in responses:
        flat = r.reshape(-1, r.shape[-1])
        out.append(flat[rng.choice(flat.shape[0], size=min(per_image, flat.shape[0]), replace=False)])
    return np.concatenate(out)
