"""Numba kernels of the CRF module (``@njit`` only; inputs are validated by the callers).

The permutohedral lattice (Adams, Baek & Davis, 2010), laid out as in Krähenbühl's
dense CRF code: features are embedded in the hyperplane ``H_d`` of R^{d+1}, each point
is splatted onto the d+1 vertices of its enclosing simplex with barycentric weights,
values are blurred with [1/2, 1, 1/2] along the d+1 lattice directions, and sliced
back with the same weights.
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import in_threads, njit, side_by_side

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
def _find(key, d, keys, table, mask):
    """Index of ``key`` in the lattice, or -1."""
    h = _hash(key, d, mask)
    while True:
        e = table[h]
        if e < 0:
            return -1
        same = True
        for i in range(d):
            if keys[e, i] != key[i]:
                same = False
                break
        if same:
            return e
        h = (h + 1) & mask


@njit
def _embed(f, scale, canonical, keys, weight):
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
        same = True
        for i in range(d):
            if keys[e, i] != key[i]:
                same = False
                break
        if same:
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
def _build_packed(pkeys, d, bits):
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
def _build_general(pkeys, d):
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


def _embed_points(f):
    """Keys (N, d+1, d) int32 of each point's d+1 simplex vertices, and their barycentric
    weights (N, d+1) float32; the points split over the threads."""
    N, d = f.shape
    d1 = d + 1
    scale = np.array([d1 * np.sqrt(2.0 / 3.0) / np.sqrt((i + 1.0) * (i + 2.0)) for i in range(d)])
    canonical = np.array([[i if j < d1 - i else i - d1 for j in range(d1)] for i in range(d1)], np.int64)
    pkeys = np.empty((N, d1, max(d, 1)), np.int32)
    weight = np.empty((N, d1), np.float32)
    in_threads(lambda a, b: _embed(f[a:b], scale, canonical, pkeys[a:b], weight[a:b]), N)
    return pkeys, weight


def _hash_vertices(f, pkeys):
    """offset (N, d+1), neighbors (d+1, M, 2), M: the vertices' hash table (serial)."""
    N, d = f.shape
    # |key| <= |elevated| + d + 1 <= 2 d max|f| scale[0] + d + 1: pack when that fits
    bits = 64 // d if d > 0 else 64
    scale0 = (d + 1) * np.sqrt(2.0 / 3.0) / np.sqrt(2.0)
    bound = 2.0 * d * float(np.abs(f).max(initial=0.0)) * scale0 + 2 * (d + 1) + 2
    if d > 0 and bits >= 8 and bound < 2.0 ** (bits - 2):
        return _build_packed(pkeys, d, bits)
    return _build_general(pkeys, d)


def build_lattices(features):
    """Embed each feature array (N, d_k) and build its lattice.

    The embeddings are split over the kernel threads; then the lattices' hash tables (serial
    work) are built side by side, one lattice per thread.

    Returns
    -------
    one tuple per feature array:
    offset : (N, d+1) int32, the lattice vertex of each of a point's d+1 splats
    weight : (N, d+1) float32, barycentric weights (each row sums to 1)
    neighbors : (d+1, M, 2) int32, the two neighbours of each vertex along each
        direction (M where absent: row M of the value array is kept at zero)
    M : number of lattice vertices
    """
    embedded = [_embed_points(f) for f in features]
    hashed = side_by_side([lambda f=f, e=e: _hash_vertices(f, e[0]) for f, e in zip(features, embedded)])
    return [(off, e[1], nb, M) for (off, nb, M), e in zip(hashed, embedded)]


def build_lattice(f):
    """:func:`build_lattices` for one feature array."""
    return build_lattices([f])[0]


# ------------------------------------------------------------------ exp and energies (both CRFs)
if numba.config.DISABLE_JIT:
    def _bits_as_f32(i):
        """The float32 whose bits are the int32 ``i``."""
        return np.array(i, np.int32).view(np.float32)[()]
else:
    @intrinsic
    def _bits_as_f32(typingctx, i):
        """The float32 whose bits are the int32 ``i`` (an LLVM bitcast, vectorisable)."""
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())
        return types.float32(types.int32), codegen


# exp(x) for float32 x <= 0 as in Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in
# two for exactness), a degree-7 polynomial for exp(r), 2^n built from its exponent bits.
# Relative error below 1e-7 against float64 exp for x >= -60; below -60 the result is exactly 0.
# The cut matters for speed, not accuracy: the callers subtract each pixel's maximum first, so
# exp(-60) ~ 1e-26 is far below float32's resolution of the sum, while values under 1e-38
# (denormals) make every later multiplication by them about ten times slower.
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_P = (np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3),
          np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1))
EXP_CUT = np.float32(-60.0)


@njit
def exp_nonpositive(x, out):
    """out[v] = exp(x[v]) for -60 <= x[v] <= 0, 0 below -60; float32, in a loop the compiler vectorises."""
    p0, p1, p2, p3, p4, p5 = _EXP_P
    for v in range(x.shape[0]):
        a = max(x[v], EXP_CUT)
        n = np.floor(a * _LOG2E + np.float32(0.5))
        r = a - n * _LN2_HI - n * _LN2_LO
        p = (((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5) * (r * r) + r + np.float32(1.0)
        e = p * _bits_as_f32((np.int32(n) + np.int32(127)) << np.int32(23))
        out[v] = e if x[v] >= EXP_CUT else np.float32(0.0)


@njit
def exp_rows_into(e, x, dst):
    """dst[k] = exp(E_k) / sum(exp(E_k)) for the rows E_k <= 0 (already minus their maximum)
    of ``e``, flat (n * L,); ``x`` (n * L,) is scratch for the exponentials, dst is (n, L)."""
    n, L = dst.shape
    exp_nonpositive(e, x)
    for k in range(n):
        tot = x[k * L]
        for v in range(1, L):
            tot += x[k * L + v]
        inv = np.float32(1.0) / tot
        for v in range(L):
            dst[k, v] = x[k * L + v] * inv


@njit(nogil=True)
def pixel_major_energies(logp, neg, E):
    """neg[i, :L] = logp[:, i], neg[i, L:] = -inf, E[i] = neg[i] - max(neg[i]).

    logp : (L, N) log-probabilities (label-major, as the probabilities come), i.e. the
    negated unary; neg, E : (N, Lp) with Lp >= L (pixel-major, labels padded).
    """
    L, N = logp.shape
    Lp = neg.shape[1]
    for i in range(N):
        mx = logp[0, i]
        for v in range(L):
            x = logp[v, i]
            neg[i, v] = x
            mx = max(mx, x)
        for v in range(L, Lp):
            neg[i, v] = -np.inf
        for v in range(Lp):
            E[i, v] = neg[i, v] - mx


# ------------------------------------------------------------------ mean field
# All kernels' lattice vertices live in one array A (kernel k in rows base_k .. base_k + M_k,
# the last of which stays zero), so one scatter splats every kernel, and one pass per
# pixel slices every kernel. The kernels are serial and release the GIL; the wrappers run
# them on row ranges in the kernel threads (one thread pool; no prange, which would add a
# second threading layer and seconds of compilation).


def mf_splat(Q, offset, weight, A, scratch):
    """A[m] = sum over (pixel i, slot s) with offset[i, s] == m of weight[i, s] * Q[i].

    A scatter: thread t walks its own range of pixels (reading Q in order) into its
    private copy ``scratch[t]`` (T, R, L) of A, which stays in cache; the copies are then
    summed. One thread (T = 1) writes A directly.
    """
    T = scratch.shape[0]
    N = Q.shape[0]
    if T == 1:
        _splat_rows(Q, offset, weight, A, 0, N)
        return
    b = np.linspace(0, N, T + 1).astype(np.int64)
    side_by_side([lambda t=t: _splat_rows(Q, offset, weight, scratch[t], b[t], b[t + 1]) for t in range(T)])
    np.sum(scratch, axis=0, out=A)


@njit
def _splat_rows(Q, offset, weight, P, i0, i1):
    """P = the splat of pixels ``[i0, i1)`` (P is zeroed first)."""
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
def mf_blur(A, B, base, neighbors, reverse):
    """Blur one kernel's block ``A[base : base + M + 1]`` along its d+1 directions (in place;
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


def mf_slice(A, offset, weight, out):
    """out_i = sum_s weight[i, s] * A[offset[i, s]]: every kernel's filtered values."""
    in_threads(lambda a, b: _slice_rows(A, offset, weight, out, a, b), out.shape[0])


@njit
def _slice_rows(A, offset, weight, out, i0, i1):
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


@njit
def mf_columns(off, bary, neighbors, alpha, w, mode, base, c0, offset, splat_weight, weight):
    """Write one lattice kernel's columns ``c0 .. c0 + d`` of the shared mean-field arrays.

    off, bary : (N, d+1) the lattice's vertices and barycentric weights; neighbors (d+1, M, 2)
    alpha : the lattice's scale; w : the kernel weight; base : its first row in the shared array
    mode : 0 none, 1 before, 2 after, 3 symmetric (``crf.kernels``): the normaliser
        n = 1 / (K 1) (or its square root) comes from this lattice's filter of ones.
    offset, splat_weight, weight : (N, S) shared arrays: base + off, bary * pre, bary * w * alpha * post
    """
    N, d1 = off.shape
    M = neighbors.shape[1]
    a = np.zeros(M + 1, np.float32)  # row M, the absent neighbour, stays zero
    b = np.zeros(M + 1, np.float32)
    if mode != 0:
        for i in range(N):  # K 1: splat, blur, slice a column of ones
            for s in range(d1):
                a[off[i, s]] += bary[i, s]
        for j in range(d1):
            for m in range(M):
                b[m] = a[m] + np.float32(0.5) * (a[neighbors[j, m, 0]] + a[neighbors[j, m, 1]])
            a, b = b, a
    for i in range(N):
        pre = np.float32(1.0)
        post = np.float32(1.0)
        if mode != 0:
            k1 = np.float32(0.0)
            for s in range(d1):
                k1 += np.float32(bary[i, s] * alpha) * a[off[i, s]]
            k1 += np.float32(1e-20)
            n = np.float32(1.0) / (np.sqrt(k1) if mode == 3 else k1)
            if mode == 1 or mode == 3:
                pre = n
            if mode == 2 or mode == 3:
                post = n
        scale = post * np.float32(w * alpha)
        for s in range(d1):
            offset[i, c0 + s] = base + off[i, s]
            splat_weight[i, c0 + s] = bary[i, s] * pre
            weight[i, c0 + s] = bary[i, s] * scale


_BLOCK = 64  # pixels per block of mf_update


def mf_update(A, offset, weight, neg_unary, Q):
    """Q_i = softmax(-U_i + sum_s weight[i, s] * A[offset[i, s]]): the Potts update, fused.

    Blocks of pixels: a block's energies go to a local buffer, minus each row's maximum,
    then through :func:`exp_nonpositive` in one long loop (which vectorises, unlike one
    per pixel), then are normalised into Q.
    """
    in_threads(lambda a, b: _update_rows(A, offset, weight, neg_unary, Q, a, b), Q.shape[0])


@njit
def _update_rows(A, offset, weight, neg_unary, Q, i0, i1):
    """:func:`mf_update` for pixels ``[i0, i1)``, ``_BLOCK`` at a time."""
    L = Q.shape[1]
    E = np.empty((_BLOCK, L), np.float32)
    X = np.empty((_BLOCK, L), np.float32)
    for a in range(i0, i1, _BLOCK):
        _update_block(A, offset, weight, neg_unary, Q, a, min(i1, a + _BLOCK), E, X)


@njit
def _update_block(A, offset, weight, neg_unary, Q, i0, i1, E, X):
    """:func:`mf_update` for pixels ``[i0, i1)``, at most ``_BLOCK``; E, X (_BLOCK, L) scratch."""
    L = Q.shape[1]
    S = offset.shape[1]
    n = i1 - i0
    for k in range(n):
        i = i0 + k
        e = E[k]
        for v in range(L):
            e[v] = neg_unary[i, v]
        s = 0
        while s + 3 <= S:  # three slots a pass: a third of the passes over e
            w0, w1, w2 = weight[i, s], weight[i, s + 1], weight[i, s + 2]
            r0, r1, r2 = offset[i, s], offset[i, s + 1], offset[i, s + 2]
            for v in range(L):
                e[v] += w0 * A[r0, v] + w1 * A[r1, v] + w2 * A[r2, v]
            s += 3
        while s < S:
            w = weight[i, s]
            row = offset[i, s]
            for v in range(L):
                e[v] += w * A[row, v]
            s += 1
        mx = e[0]
        for v in range(1, L):
            mx = max(mx, e[v])
        for v in range(L):
            e[v] -= mx
    exp_rows_into(E.reshape(_BLOCK * L)[: n * L], X.reshape(_BLOCK * L)[: n * L], Q[i0:i1])


@njit
def normalize_rows(Q):
    """Q_i /= sum(Q_i), in place."""
    N, L = Q.shape
    for i in range(N):
        tot = Q[i, 0]
        for v in range(1, L):
            tot += Q[i, v]
        inv = 1.0 / tot
        for v in range(L):
            Q[i, v] *= inv


@njit
def transpose_into(Q, out):
    """out[v, i] = Q[i, v] for v < out.shape[0]: pixel-major (N, >= L) to label-major (L, N)."""
    N = Q.shape[0]
    L = out.shape[0]
    for i in range(N):
        for v in range(L):
            out[v, i] = Q[i, v]


@njit
def exp_normalize_rows(E, Q):
    """Q_i = exp(E_i) / sum(exp(E_i)) for rows E_i <= 0 (already minus their maximum)."""
    N, L = E.shape
    exp_nonpositive(E.reshape(N * L), Q.reshape(N * L))
    normalize_rows(Q)


def exp_inplace(x):
    """``np.exp(x, out=x)`` on (N, L) rows; NumPy's SIMD exp, row blocks in the kernel threads."""
    in_threads(lambda a, b: np.exp(x[a:b], out=x[a:b]), x.shape[0])
    return x


def softmax_into(E, out):
    """out = softmax(E) along the last axis (E is left unchanged); NumPy's exp, Numba's loops."""
    np.subtract(E, E.max(axis=1, keepdims=True), out=out)
    exp_inplace(out)
    normalize_rows(out)
    return out


# ------------------------------------------------------------------ grid CRF


@njit
def grid_step(neg_unary, Qold, weights, offsets, Qnew, y0, y1):
    """One mean-field update of the grid CRF for rows ``[y0, y1)``, a row at a time.

    Qnew_i = softmax(-U_i + sum_k weights[k, i] Qold_{i + offset_k}).
    neg_unary : (H, W, L); Qold, Qnew : (H+2, W+2, L), Q padded by one pixel of zeros;
    weights : (K, H, W), zero where the neighbour falls outside the image;
    offsets : (K, 2) int (dy, dx), each in {-1, 0, 1}.
    """
    H, W, L = neg_unary.shape
    K = offsets.shape[0]
    row = np.empty((W, L), np.float32)   # one row's energies
    erow = np.empty((W, L), np.float32)  # their exp (out of place: a long loop the compiler
    flat, eflat = row.reshape(W * L), erow.reshape(W * L)  # vectorises; in place it would not)
    for y in range(y0, y1):
        for x in range(W):
            e = row[x]
            for v in range(L):
                e[v] = neg_unary[y, x, v]
            for k in range(K):
                w = weights[k, y, x]
                q = Qold[y + 1 + offsets[k, 0], x + 1 + offsets[k, 1]]
                for v in range(L):
                    e[v] += w * q[v]
            mx = e[0]
            for v in range(1, L):
                mx = max(mx, e[v])
            for v in range(L):
                e[v] -= mx
        exp_rows_into(flat, eflat, Qnew[y + 1, 1 : W + 1])


@njit
def normalize_into_padded(E, Qp):
    """Qp[y + 1, x + 1] = E[y, x] / sum(E[y, x]): the next Q, straight into the padded buffer."""
    H, W, L = E.shape
    for y in range(H):
        for x in range(W):
            tot = E[y, x, 0]
            for v in range(1, L):
                tot += E[y, x, v]
            inv = 1.0 / tot
            for v in range(L):
                Qp[y + 1, x + 1, v] = E[y, x, v] * inv
