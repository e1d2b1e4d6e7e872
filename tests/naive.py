"""Slow, obviously-correct loop versions of the fast ops, used as references."""
from __future__ import annotations

import math

import numpy as np


def conv2d(x, w, b, stride, pad, dil):
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = (H + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for y in range(Ho):
                for x_ in range(Wo):
                    s = 0.0 if b is None else b[f]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                yy = y * stride - pad + i * dil
                                xx = x_ * stride - pad + j * dil
                                if 0 <= yy < H and 0 <= xx < W:
                                    s += w[f, c, i, j] * x[n, c, yy, xx]
                    out[n, f, y, x_] = s
    return out


def caffe_pool_size(H, k, s, p):
    out = int(math.ceil((H + 2 * p - k) / s)) + 1
    if p and (out - 1) * s >= H + p:
        out -= 1
    return out


def pool2d(x, k, s, p, mode):
    """Caffe's pooling loops (pooling_layer.cpp), max or ave."""
    N, C, H, W = x.shape
    Ho, Wo = caffe_pool_size(H, k, s, p), caffe_pool_size(W, k, s, p)
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for ph in range(Ho):
                for pw in range(Wo):
                    hs, ws = ph * s - p, pw * s - p
                    he, we = min(hs + k, H + p), min(ws + k, W + p)
                    size = (he - hs) * (we - ws)
                    hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
                    win = x[n, c, hs:he, ws:we]
                    out[n, c, ph, pw] = win.max() if mode == "max" else win.sum() / size
    return out


def bilinear_align_corners(x, Ho, Wo):
    N, C, H, W = x.shape
    out = np.zeros((N, C, Ho, Wo))
    for y in range(Ho):
        fy = y * (H - 1) / (Ho - 1) if Ho > 1 else 0.0
        y0 = min(int(math.floor(fy)), max(H - 2, 0))
        ay = fy - y0
        y1 = min(y0 + 1, H - 1)
        for x_ in range(Wo):
            fx = x_ * (W - 1) / (Wo - 1) if Wo > 1 else 0.0
            x0 = min(int(math.floor(fx)), max(W - 2, 0))
            ax = fx - x0
            x1 = min(x0 + 1, W - 1)
            out[:, :, y, x_] = ((1 - ay) * (1 - ax) * x[:, :, y0, x0] + (1 - ay) * ax * x[:, :, y0, x1]
                                + ay * (1 - ax) * x[:, :, y1, x0] + ay * ax * x[:, :, y1, x1])
    return out


def softmax_cross_entropy(scores, labels, ignore=255, weights=None):
    """Sum of -w[t] log p over valid pixels, and the sum of w[t] (the count without weights)."""
    N, L, H, W = scores.shape
    total, count = 0.0, 0
    for n in range(N):
        for y in range(H):
            for x in range(W):
                t = labels[n, y, x]
                if t == ignore:
                    continue
                w = 1 if weights is None else float(weights[t])
                s = scores[n, :, y, x].astype(np.float64)
                m = s.max()
                total -= w * (s[t] - m - math.log(np.exp(s - m).sum()))
                count += w
    return total, count


# ---------------------------------------------------------------- CRFs
def gaussian_filter(f, v):
    """out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j, by loops (j = i included)."""
    N = f.shape[0]
    out = np.zeros((N,) + v.shape[1:])
    for i in range(N):
        for j in range(N):
            out[i] += math.exp(-0.5 * float(((f[i] - f[j]) ** 2).sum())) * v[j]
    return out


def dense_mean_field(unary, feats, weights, mu, n_iter, normalization="symmetric"):
    """The mean-field equations of the fully connected CRF, written out pixel by pixel.

    unary (N, L); feats: list of (N, d) scaled features; mu (L, L) label compatibility in
    the energy (Potts = 1 - I), or a list of one per kernel; k includes j = i, normalised as in
    Krähenbühl's code.
    """
    N, L = unary.shape
    mus = list(mu) if isinstance(mu, (list, tuple)) or np.ndim(mu) == 3 else [mu] * len(feats)
    kernels = []
    for f in feats:
        K = np.array([[math.exp(-0.5 * float(((f[i] - f[j]) ** 2).sum())) for j in range(N)] for i in range(N)])
        s = K.sum(1)
        if normalization == "symmetric":
            K = K / np.sqrt(s)[:, None] / np.sqrt(s)[None, :]
        elif normalization == "after":
            K = K / s[:, None]
        elif normalization == "before":
            K = K / s[None, :]
        kernels.append(K)
    Q = np.exp(-unary - (-unary).max(1, keepdims=True))
    Q /= Q.sum(1, keepdims=True)
    for _ in range(n_iter):
        new = np.zeros_like(Q)
        for i in range(N):
            for l in range(L):
                e = -unary[i, l]
                for w, K, m in zip(weights, kernels, mus):
                    for lp in range(L):
                        e -= w * m[l, lp] * sum(K[i, j] * Q[j, lp] for j in range(N))
                new[i, l] = e
            new[i] = np.exp(new[i] - new[i].max())
            new[i] /= new[i].sum()
        Q = new
    return Q


def grid_mean_field(unary, image, n_iter, connectivity, w_smooth, w_contrast, beta):
    """Grid CRF mean field by loops over pixels and their neighbours. unary (H, W, L)."""
    H, W, L = unary.shape
    img = image.astype(np.float64)
    offs = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    if connectivity == 8:
        offs += [(1, 1), (-1, -1), (1, -1), (-1, 1)]
    Q = np.exp(-unary - (-unary).max(2, keepdims=True))
    Q /= Q.sum(2, keepdims=True)
    for _ in range(n_iter):
        new = np.zeros_like(Q)
        for y in range(H):
            for x in range(W):
                e = -unary[y, x].copy()
                for dy, dx in offs:
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < H and 0 <= xx < W:
                        dist = math.sqrt(dy * dy + dx * dx)
                        diff = float(((img[y, x] - img[yy, xx]) ** 2).sum())
                        w = (w_smooth + w_contrast * math.exp(-beta * diff)) / dist
                        e += w * Q[yy, xx]
                e = np.exp(e - e.max())
                new[y, x] = e / e.sum()
        Q = new
    return Q


def lattice_filter(f, v, transpose=False):
    """The permutohedral lattice filter (Adams, Baek & Davis 2010, in Krähenbühl's layout)
    with a dict of vertices: embed, splat, blur, slice. f (N, d) scaled features, v (N, V).

    Each point is lifted onto the hyperplane x_0 + ... + x_d = 0 of R^{d+1}, where the lattice
    is the integer points whose coordinates are all congruent mod d+1; the point's enclosing
    simplex has d+1 such vertices, found from the nearest "remainder 0" point and the ranks of
    the differential, and the barycentric weights split the value among them.
    """
    N, d = f.shape
    d1 = d + 1
    scale = [d1 * math.sqrt(2.0 / 3.0) / math.sqrt((i + 1.0) * (i + 2.0)) for i in range(d)]
    splats = []                 # per point: [(vertex key, weight)] * (d+1)
    for n in range(N):
        x = [f[n, i] * scale[i] for i in range(d)]
        elevated = [0.0] * d1   # E x: coordinates summing to zero
        for j in range(d1):
            elevated[j] = sum(x[j:]) - j * x[j - 1] if j > 0 else sum(x)
        rem0 = []               # nearest multiple of d+1 in each coordinate (ties go down)
        for e in elevated:
            up, down = math.ceil(e / d1) * d1, math.floor(e / d1) * d1
            rem0.append(up if up - e < e - down else down)
        diff = [e - r for e, r in zip(elevated, rem0)]
        rank = [sum(diff[j] > diff[i] for j in range(d1)) + sum(diff[j] == diff[i] for j in range(i))
                for i in range(d1)]
        s = sum(rem0) // d1     # bring the point to remainder 0 by shifting ranks
        for i in range(d1):
            rank[i] += s
            if rank[i] < 0:
                rank[i], rem0[i] = rank[i] + d1, rem0[i] + d1
            elif rank[i] > d:
                rank[i], rem0[i] = rank[i] - d1, rem0[i] - d1
        bary = [0.0] * (d1 + 1)
        for i in range(d1):
            t = (elevated[i] - rem0[i]) / d1
            bary[d - rank[i]] += t
            bary[d1 - rank[i]] -= t
        bary[0] += 1.0 + bary[d1]
        # vertex r of the simplex: rem0 plus the canonical simplex's r-th vertex, permuted by rank
        splats.append([(tuple(rem0[i] + (r if rank[i] < d1 - r else r - d1) for i in range(d)), bary[r])
                       for r in range(d1)])
    values = {}
    for n in range(N):
        for key, w in splats[n]:
            values[key] = values.get(key, 0.0) + w * v[n]
    directions = range(d, -1, -1) if transpose else range(d1)
    for j in directions:        # [1/2, 1, 1/2] along lattice direction j
        step = [-1] * d if j == d else [d if i == j else -1 for i in range(d)]
        blurred = {}
        for key, val in values.items():
            lo = tuple(k + s_ for k, s_ in zip(key, step))
            hi = tuple(k - s_ for k, s_ in zip(key, step))
            blurred[key] = val + 0.5 * (values.get(lo, 0.0) + values.get(hi, 0.0))
        values = blurred
    alpha = 1.0 / (1.0 + 2.0 ** (-d))
    return np.array([alpha * sum(w * values[key] for key, w in splats[n]) for n in range(N)])
