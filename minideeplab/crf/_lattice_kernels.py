"""Numba kernels of the permutohedral lattice (``@njit`` only; :mod:`.lattice` validates,
threads and documents them; ``tests/naive.py::lattice_filter`` is their readable twin).

The layout is Krähenbühl's dense CRF code's: features are embedded in the hyperplane ``H_d``
of R^{d+1}, each point is splatted onto the d+1 vertices of its enclosing simplex with
barycentric weights, values are blurred with [1/2, 1, 1/2] along the d+1 lattice directions,
and sliced back with the same weights.
"""
from __future__ import annotations

import numpy as np

from .._numba import njit

_HASH_MULT = 2531011

@njit
def _hash(key, d, mask):
    h = np.uint64(0)
    for i in range(d):
        h = (h + np.uint64(np.int64(key[i]) & 0xFFFFFFFF)) * np.uint64(_HASH_MULT)
    # finalise (mix the high bits down) so that a small power-of-two table spreads well
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    return np.int64(h & np.uint64(mask))


@njit
def _is_key(keys, e, key, d):
    """Whether vertex ``e`` has the key ``key``."""
    for i in range(d):
        if keys[e, i] != key[i]:
            return False
    return True


@njit
def _find(key, d, keys, table, mask):
    """Index of ``key`` in the lattice, or -1."""
    h = _hash(key, d, mask)
    while True:
        e = table[h]
        if e < 0:
            return -1
        if _is_key(keys, e, key, d):
            return e
        h = (h + 1) & mask


@njit
def embed(f, scale, canonical, keys, weight):
    """Per point: the keys of its d+1 simplex vertices and their barycentric weights,
    written into ``keys`` (N, d+1, d) and ``weight`` (N, d+1)."""
    N, d = f.shape
    d1 = d + 1
    elevated = np.empty(d1)
    rem0 = np.empty(d1, np.int64)
    rank = np.zeros(d1, np.int64)
    bary = np.zeros(d1 + 1)
    inv_d1 = 1.0 / d1
    for n in range(N):
        rank[:] = 0
        # elevate onto the hyperplane H_d (coordinates sum to zero)
        sm = 0.0
        for j in range(d, 0, -1):
            cf = f[n, j - 1] * scale[j - 1]
            elevated[j] = sm - j * cf
            sm += cf
        elevated[0] = sm
        # the nearest remainder-0 lattice point
        s = 0
        for i in range(d1):
            v = elevated[i] * inv_d1
            up = np.ceil(v) * d1
            down = np.floor(v) * d1
            if up - elevated[i] < elevated[i] - down:
                rem0[i] = np.int64(up)
            else:
                rem0[i] = np.int64(down)
            s += rem0[i]
        s //= d1
        # rank the differential to find the enclosing simplex
        for i in range(d1):
            bary[i] = elevated[i] - rem0[i]  # the differential (bary is reset below)
        for i in range(d):
            for j in range(i + 1, d1):
                c = np.int64(bary[i] < bary[j])  # branch-free: these compares mispredict
                rank[i] += c
                rank[j] += 1 - c
        for i in range(d1):
            rank[i] += s
            if rank[i] < 0:
                rank[i] += d1
                rem0[i] += d1
            elif rank[i] > d:
                rank[i] -= d1
                rem0[i] -= d1
        # barycentric coordinates
        for i in range(d1 + 1):
            bary[i] = 0.0
        for i in range(d1):
            v = (elevated[i] - rem0[i]) * inv_d1
            bary[d - rank[i]] += v
            bary[d1 - rank[i]] -= v
        bary[0] += 1.0 + bary[d1]
        for r in range(d1):
            for i in range(d):
                keys[n, r, i] = rem0[i] + canonical[r, rank[i]]
            weight[n, r] = bary[r]


@njit
def _insert(key, d, keys, M, table, mask):
    """Index of ``key``, appending it (as vertex M) if new; returns (index, new M)."""
    h = _hash(key, d, mask)
    while True:
        e = table[h]
        if e < 0:
            table[h] = M
            for i in range(d):
                keys[M, i] = key[i]
            return M, M + 1
        if _is_key(keys, e, key, d):
            return e, M
        h = (h + 1) & mask


@njit
def _rehash(keys, M, d, cap):
    table = np.full(cap, -1, np.int32)
    mask = cap - 1
    for m in range(M):
        h = _hash(keys[m], d, mask)
        while table[h] >= 0:
            h = (h + 1) & mask
        table[h] = m
    return table


@njit
def _mix(h):
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    return h


@njit
def _pack(key, d, bits, bias):
    p = np.uint64(0)
    for i in range(d):
        p = (p << np.uint64(bits)) | np.uint64(np.int64(key[i]) + bias)
    return p


@njit
def _insert_packed(p, packed, M, table, mask):
    h = np.int64(_mix(p) & np.uint64(mask))
    while True:
        e = table[h]
        if e < 0:
            table[h] = M
            packed[M] = p
            return M, M + 1
        if packed[e] == p:
            return e, M
        h = (h + 1) & mask


@njit
def _find_packed(p, packed, table, mask):
    h = np.int64(_mix(p) & np.uint64(mask))
    while True:
        e = table[h]
        if e < 0:
            return -1
        if packed[e] == p:
            return e
        h = (h + 1) & mask


@njit
def build_packed(pkeys, d, bits):
    """Hash the vertices with each key packed into one uint64 (``bits`` bits a coordinate)."""
    N, d1, _ = pkeys.shape
    bias = np.int64(1) << np.int64(bits - 1)
    cap = 1024
    table = np.full(cap, -1, np.int32)
    packed = np.empty(N * d1, np.uint64)
    offset = np.empty((N, d1), np.int32)
    prev = np.zeros(d1, np.uint64)
    M = 0
    for n in range(N):
        for r in range(d1):
            p = _pack(pkeys[n, r], d, bits, bias)
            if n > 0 and p == prev[r]:  # neighbouring points usually share vertices
                offset[n, r] = offset[n - 1, r]
                continue
            prev[r] = p
            if 2 * (M + 1) > cap:
                cap *= 2
                table = np.full(cap, -1, np.int32)
                for m in range(M):
                    h = np.int64(_mix(packed[m]) & np.uint64(cap - 1))
                    while table[h] >= 0:
                        h = (h + 1) & (cap - 1)
                    table[h] = m
            e, M = _insert_packed(p, packed, M, table, cap - 1)
            offset[n, r] = e
    mask = cap - 1
    neighbors = np.empty((d1, M, 2), np.int32)
    key = np.empty(d, np.int64)
    n1 = np.empty(d, np.int64)
    n2 = np.empty(d, np.int64)
    fmask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    for m in range(M):
        p = packed[m]
        for i in range(d - 1, -1, -1):
            key[i] = np.int64(p & fmask) - bias
            p = p >> np.uint64(bits)
        for j in range(d1):
            for i in range(d):
                n1[i] = key[i] - 1
                n2[i] = key[i] + 1
            if j < d:
                n1[j] = key[j] + d
                n2[j] = key[j] - d
            a = _find_packed(_pack(n1, d, bits, bias), packed, table, mask)
            b = _find_packed(_pack(n2, d, bits, bias), packed, table, mask)
            neighbors[j, m, 0] = M if a < 0 else a
            neighbors[j, m, 1] = M if b < 0 else b
    return offset, neighbors, M


@njit
def build_general(pkeys, d):
    """Hash the vertices with d-int keys (any range)."""
    N, d1, _ = pkeys.shape
    cap = 1024
    table = np.full(cap, -1, np.int32)
    keys = np.empty((N * d1, max(d, 1)), np.int32)
    offset = np.empty((N, d1), np.int32)
    M = 0
    for n in range(N):
        for r in range(d1):
            if n > 0:  # neighbouring points usually share vertices
                same = True
                for i in range(d):
                    if pkeys[n, r, i] != pkeys[n - 1, r, i]:
                        same = False
                        break
                if same:
                    offset[n, r] = offset[n - 1, r]
                    continue
            if 2 * (M + 1) > cap:
                cap *= 2
                table = _rehash(keys, M, d, cap)
            e, M = _insert(pkeys[n, r], d, keys, M, table, cap - 1)
            offset[n, r] = e
    mask = cap - 1
    neighbors = np.empty((d1, M, 2), np.int32)
    n1 = np.empty(max(d, 1), np.int32)
    n2 = np.empty(max(d, 1), np.int32)
    for j in range(d1):
        for m in range(M):
            for i in range(d):
                n1[i] = keys[m, i] - 1
                n2[i] = keys[m, i] + 1
            if j < d:
                n1[j] = keys[m, j] + d
                n2[j] = keys[m, j] - d
            a = _find(n1, d, keys, table, mask)
            b = _find(n2, d, keys, table, mask)
            neighbors[j, m, 0] = M if a < 0 else a
            neighbors[j, m, 1] = M if b < 0 else b
    return offset, neighbors, M


# ------------------------------------------------------------------ splat, blur, slice
@njit
def splat_rows(Q, offset, weight, P, i0, i1):
    """P[m] = sum over (point i in ``[i0, i1)``, slot s) with offset[i, s] == m of
    weight[i, s] * Q[i]; P (R, L) is zeroed first."""
    R, L = P.shape
    S = offset.shape[1]
    for m in range(R):
        for v in range(L):
            P[m, v] = 0.0
    for i in range(i0, i1):
        q = Q[i]
        for s in range(S):
            w = weight[i, s]
            row = offset[i, s]
            for v in range(L):
                P[row, v] += w * q[v]


@njit
def blur(A, B, base, neighbors, reverse):
    """Blur one lattice's block ``A[base : base + M + 1]`` along its d+1 directions (in place;
    B's rows of the block are scratch, its last row must be zero).

    ``reverse`` takes the directions in reverse order: the transposed operator.
    """
    d1, M, _ = neighbors.shape
    L = A.shape[1]
    src, dst = A, B
    for jj in range(d1):
        j = d1 - 1 - jj if reverse else jj
        for m in range(M):
            i0 = base + m
            i1 = base + neighbors[j, m, 0]
            i2 = base + neighbors[j, m, 1]
            for v in range(L):
                dst[i0, v] = src[i0, v] + np.float32(0.5) * (src[i1, v] + src[i2, v])
        src, dst = dst, src
    if d1 % 2 == 1:  # the result is in B: copy it back
        for m in range(M):
            for v in range(L):
                A[base + m, v] = B[base + m, v]


@njit
def slice_rows(A, offset, weight, out, i0, i1):
    """out_i = sum_s weight[i, s] * A[offset[i, s]] for the points ``[i0, i1)``."""
    L = out.shape[1]
    S = offset.shape[1]
    for i in range(i0, i1):
        e = out[i]
        for v in range(L):
            e[v] = 0.0
        for s in range(S):
            w = weight[i, s]
            row = offset[i, s]
            for v in range(L):
                e[v] += w * A[row, v]
