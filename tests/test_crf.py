"""The CRF module against exact filtering, naive mean field, theory and bad input."""
import numpy as np
import pytest

import naive
from minideeplab.crf import Lattice, bilateral_filter, dense_crf, grid_crf
from minideeplab.crf.grid import edge_weights
from minideeplab.datasets import SyntheticScenes, noisy_probs, thin_line_scene


def _probs(rng, L, H, W, scale=2.0):
    lo = rng.standard_normal((L, H, W)) * scale
    p = np.exp(lo - lo.max(0))
    return p / p.sum(0)


def _unary(p):
    L = p.shape[0]
    return -np.log(np.clip(p, 1e-5, 1)).reshape(L, -1).T


# ------------------------------------------------------------------ the lattice
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_lattice_impulse_response_is_a_unit_gaussian(d):
    """A dense grid of points, one of them 1: the lattice spreads it as exp(-r^2 / 2).

    Documented accuracy: the centre weight is exactly 1 and the response deviates from
    exp(-r^2 / 2) by at most 0.075 (d = 1), 0.11 (d = 2), 0.10 (d = 3) and 0.16 (d = 5) of the
    peak (measured when written); the best-fitting Gaussian has std 0.96-0.98. (For d = 1 the
    lattice once returned the impulse unblurred: its packed keys were shifted by 64 bits.)
    """
    g = np.arange(-4, 4.01, 0.5 if d <= 2 else 1.0)
    pts = np.stack(np.meshgrid(*([g] * d), indexing="ij"), -1).reshape(-1, d)
    v = np.zeros(len(pts))
    c = np.argmin((pts ** 2).sum(1))
    v[c] = 1.0
    out = Lattice(pts).filter(v)
    assert out[c] == pytest.approx(1.0, abs=1e-6)
    r2 = (pts ** 2).sum(1)
    exact = np.exp(-r2 / 2)
    assert np.abs(out - exact).max() < {1: 0.09, 2: 0.13, 3: 0.12, 5: 0.18}[d]  # against the unit Gaussian itself
    assert out[r2 > 6.0 ** 2].max(initial=0.0) < 1e-3  # no leakage far away


@pytest.mark.parametrize("d,spread", [(2, 10.0), (2, 3.0), (5, 2.0)])
def test_lattice_weighted_average_against_exact(d, spread):
    """Normalised filtering (what the CRF uses) of random dense point sets: error < 0.03.

    (Sparse sets are worse: isolated points in 5-D give errors up to ~0.25.)
    """
    rng = np.random.default_rng(d)
    f = rng.uniform(0, spread, size=(300, d))
    v = rng.uniform(0, 1, size=(300, 2))
    vals = np.hstack([v, np.ones((300, 1))])
    lat = Lattice(f).filter(vals)
    ex = naive.gaussian_filter(f, vals)
    assert np.abs(lat[:, :2] / lat[:, 2:] - ex[:, :2] / ex[:, 2:]).max() < 0.03
    # raw sums carry a scale factor below one (documented in crf.pairwise)
    ratio = lat[:, 2] / ex[:, 2]
    assert 0.5 < ratio.mean() < 1.0 and ratio.std() < 0.1


def test_lattice_transpose_and_shapes():
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 4, size=(200, 3))
    lat = Lattice(f)
    a, b = rng.standard_normal((200, 2)), rng.standard_normal((200, 2))
    # <K a, b> == <a, K^T b>: the transposed filter is the adjoint
    lhs = np.sum(lat.filter(a) * b)
    rhs = np.sum(a * lat.filter(b, transpose=True))
    assert abs(lhs - rhs) < 1e-4 * np.abs(lhs).max(initial=1.0) * 10
    assert lat.filter(a[:, 0]).shape == (200,)
    with pytest.raises(ValueError, match="values must have shape"):
        lat.filter(np.zeros((199, 2)))
    with pytest.raises(ValueError, match="values contains NaN"):
        lat.filter(np.full((200, 1), np.nan))
    with pytest.raises(TypeError, match="values must be numeric"):
        lat.filter(np.array(["a"] * 200))
    with pytest.raises(ValueError, match=r"features must have shape \(N, d\)"):
        Lattice(np.zeros(5))
    with pytest.raises(ValueError, match="features is empty"):
        Lattice(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="NaN"):
        Lattice(np.array([[0.0, np.nan]]))


def test_bilateral_filter_smooths_and_keeps_edges():
    rng = np.random.default_rng(0)
    img = np.zeros((32, 32), np.float64)
    img[:, 16:] = 200.0
    noisy = img + rng.normal(0, 10, img.shape)
    out = bilateral_filter(noisy, theta_spatial=4, theta_range=30)
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.abs(out - img)[:, 2:14].std() < 0.5 * np.abs(noisy - img)[:, 2:14].std()  # denoised
    assert out[:, :14].max() < 50 and out[:, 18:].min() > 150  # the edge survives
    const = bilateral_filter(np.full((8, 9, 3), 77.0))
    assert np.allclose(const, 77.0, atol=1e-3)


# ------------------------------------------------------------------ dense CRF
@pytest.mark.parametrize("normalization", ["symmetric", "after", "before", "none"])
def test_exact_mean_field_matches_the_update_equations(normalization):
    rng = np.random.default_rng(1)
    H, W, L = 4, 5, 3
    img = rng.uniform(0, 255, (H, W, 3))
    p = _probs(rng, L, H, W)
    kw = dict(n_iter=3, w_bilateral=2.0, theta_alpha=3.0, theta_beta=40.0, w_gaussian=1.5, theta_gamma=1.5)
    Q = dense_crf(img, p, method="exact", normalization=normalization, **kw)
    yy, xx = np.mgrid[0:H, 0:W]
    pos = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    fb = np.column_stack([pos / 3.0, img.reshape(-1, 3) / 40.0])
    fg = pos / 1.5
    ref = naive.dense_mean_field(_unary(p), [fb, fg], [2.0, 1.5], 1 - np.eye(L), 3, normalization)
    assert np.abs(Q.reshape(L, -1).T - ref).max() < 1e-5


def test_a_compatibility_matrix_per_kernel_matches_the_update_equations():
    """compat (2, L, L): mu_b for the bilateral kernel, mu_g for the Gaussian one, against the
    pixel-by-pixel mean field; with a zero weight the other kernel keeps its own matrix."""
    rng = np.random.default_rng(11)
    H, W, L = 4, 5, 3
    img = rng.uniform(0, 255, (H, W, 3))
    p = _probs(rng, L, H, W)
    mu = rng.uniform(-0.5, 2.0, (2, L, L))
    yy, xx = np.mgrid[0:H, 0:W]
    pos = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    fb = np.column_stack([pos / 3.0, img.reshape(-1, 3) / 40.0])
    kw = dict(n_iter=3, theta_alpha=3.0, theta_beta=40.0, theta_gamma=1.5, method="exact")
    for w1, w2, feats, weights, mus in ((2.0, 1.5, [fb, pos / 1.5], [2.0, 1.5], [mu[0], mu[1]]),
                                        (0.0, 1.5, [pos / 1.5], [1.5], [mu[1]]),
                                        (2.0, 0.0, [fb], [2.0], [mu[0]])):
        Q = dense_crf(img, p, compat=mu, w_bilateral=w1, w_gaussian=w2, **kw)
        ref = naive.dense_mean_field(_unary(p), feats, weights, mus, 3)
        assert np.abs(Q.reshape(L, -1).T - ref).max() < 1e-5
    shared = dense_crf(img, p, compat=mu[0], w_bilateral=2.0, w_gaussian=1.5, **kw)
    assert np.abs(shared - dense_crf(img, p, compat=mu, w_bilateral=2.0, w_gaussian=1.5, **kw)).max() > 1e-3
    for bad in (np.zeros((3, L, L)), np.zeros((2, L, L + 1)), np.zeros((2, 2, L, L))):
        with pytest.raises(ValueError, match=r"compat must be 'potts', an \(3, 3\) array or a \(2, 3, 3\) pair"):
            dense_crf(img, p, compat=bad)


@pytest.mark.parametrize("method", ["exact", "lattice"])
def test_label_bias_shifts_the_unary(method):
    """bias b: U_i(l) = -log P_i(l) - b_l. Exact: the naive mean field on that unary; both
    methods, Potts and a matrix, n_iter 0 and 3: the same as probs scaled by exp(b) and
    renormalised (no probability near the clip); zero bias changes nothing."""
    rng = np.random.default_rng(5)
    H, W, L = 6, 7, 4
    img = rng.uniform(0, 255, (H, W, 3))
    p = np.maximum(_probs(rng, L, H, W), 1e-3)
    p /= p.sum(0)
    b = np.array([0.8, -0.5, 0.0, 1.3])
    q = p * np.exp(b)[:, None, None]
    q /= q.sum(0)
    kw = dict(w_bilateral=2.0, theta_alpha=3.0, theta_beta=40.0, w_gaussian=1.5, theta_gamma=1.5, method=method)
    mu = rng.uniform(0, 2, (L, L))
    for compat in ("potts", mu):
        for n in (0, 3):
            got = dense_crf(img, p, n_iter=n, compat=compat, bias=b, **kw)
            assert np.abs(got - dense_crf(img, q, n_iter=n, compat=compat, **kw)).max() < 1e-5
            assert np.abs(dense_crf(img, p, n_iter=n, compat=compat, bias=np.zeros(L), **kw)
                          - dense_crf(img, p, n_iter=n, compat=compat, **kw)).max() == 0
    for n in (0, 2):  # no pairwise term (the plain mean-field branch), and the history
        got, history = dense_crf(img, p, n_iter=n, bias=b, return_history=True, **dict(kw, w_bilateral=0, w_gaussian=0))
        assert np.abs(got - q).max() < 1e-5 and all(np.abs(h - q).max() < 1e-5 for h in history)
    got, history = dense_crf(img, p, n_iter=2, bias=b, return_history=True, **kw)
    assert np.abs(history[0] - q).max() < 1e-5 and np.array_equal(history[-1], got)
    if method == "exact":
        yy, xx = np.mgrid[0:H, 0:W]
        pos = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
        fb = np.column_stack([pos / 3.0, img.reshape(-1, 3) / 40.0])
        ref = naive.dense_mean_field(_unary(p) - b, [fb, pos / 1.5], [2.0, 1.5], mu, 3, "symmetric")
        got = dense_crf(img, p, n_iter=3, compat=mu, bias=b, **kw)
        assert np.abs(got.reshape(L, -1).T - ref).max() < 1e-5
    with pytest.raises(ValueError, match="bias must be"):
        dense_crf(img, p, bias=b[:3])
    with pytest.raises(ValueError, match="bias contains NaN"):
        dense_crf(img, p, bias=np.array([0, np.nan, 0, 0]))
    with pytest.raises(TypeError, match="bias must be"):
        dense_crf(img, p, bias="potts")
    with pytest.raises(TypeError, match="bias must be"):
        dense_crf(img, p, bias=np.ones(L, complex))
    for huge in (1e39, -2e3):  # finite in float64; beyond float32 or any meaningful log-prior
        with pytest.raises(ValueError, match="bias values must lie in"):
            dense_crf(img, p, bias=np.array([huge, 0, 0, 0]))
    ok = dense_crf(img, p, bias=np.array([1e3, 0, 0, -1e3]), **kw)  # the bound itself: finite beliefs
    assert np.all(np.isfinite(ok)) and np.allclose(ok.sum(0), 1, atol=1e-5)


def test_matrix_compat_and_potts_agree():
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, (10, 12, 3)).astype(np.uint8)
    p = _probs(rng, 4, 10, 12)
    a = dense_crf(img, p, compat="potts")
    b = dense_crf(img, p, compat=1 - np.eye(4))
    assert np.abs(a - b).max() < 1e-5
    c = dense_crf(img, p, compat=np.zeros((4, 4)))  # no interaction: Q = clipped P
    assert np.abs(c - np.clip(p, 1e-5, 1) / np.clip(p, 1e-5, 1).sum(0)).max() < 1e-5


def test_lattice_against_exact_on_a_scene():
    """Lattice and exact mean field agree on a smooth scene with informative unaries."""
    img, gt = SyntheticScenes(1, (48, 64), 4, objects=(2, 3), seed=3, noise=4.0)[0]
    p = noisy_probs(gt, 4, strength=2.0, noise=1.2, rng=np.random.default_rng(0))
    for kw in [{}, dict(w_bilateral=10, theta_alpha=80, theta_beta=13)]:
        Ql = dense_crf(img, p, **kw)
        Qe = dense_crf(img, p, method="exact", **kw)
        assert (Ql.argmax(0) == Qe.argmax(0)).mean() >= 0.995
        assert np.abs(Ql - Qe).mean() < 2e-3


def test_potts_mean_field_decreases_the_free_energy():
    """Parallel mean field with Potts (concave) and a PSD kernel is a concave-convex
    procedure (Krähenbühl & Koltun, ICML 2013), so
    F(Q) = sum Q log Q + sum U Q - 1/2 sum_m w_m <Q, K_m Q> never increases."""
    rng = np.random.default_rng(4)
    H, W, L = 6, 7, 3
    img = rng.uniform(0, 255, (H, W, 3))
    p = _probs(rng, L, H, W, scale=1.0)
    kw = dict(w_bilateral=5.0, theta_alpha=4.0, theta_beta=60.0, w_gaussian=3.0, theta_gamma=2.0)
    for normalization in ("symmetric", "none"):
        _, hist = dense_crf(img, p, n_iter=8, method="exact", normalization=normalization,
                            return_history=True, **kw)
        yy, xx = np.mgrid[0:H, 0:W]
        pos = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
        Ks = []
        for f in (np.column_stack([pos / 4.0, img.reshape(-1, 3) / 60.0]), pos / 2.0):
            K = np.exp(-0.5 * ((f[:, None] - f[None]) ** 2).sum(-1))
            if normalization == "symmetric":
                n = 1 / np.sqrt(K.sum(1))
                K = n[:, None] * K * n[None, :]
            Ks.append(K)
        U = _unary(p)
        F = []
        for Q in hist:
            q = Q.reshape(L, -1).T.astype(np.float64)
            F.append((q * np.log(q)).sum() + (U * q).sum()
                     - 0.5 * sum(w * (q * (K @ q)).sum() for w, K in zip((5.0, 3.0), Ks)))
        assert all(b <= a + 1e-4 for a, b in zip(F, F[1:])), F


def test_history_and_zero_iterations():
    rng = np.random.default_rng(5)
    img = rng.uniform(0, 255, (8, 8, 3)).astype(np.uint8)
    p = _probs(rng, 3, 8, 8)
    Q, hist = dense_crf(img, p, n_iter=4, return_history=True)
    assert len(hist) == 5 and np.array_equal(hist[-1], Q)
    clipped = np.clip(p, 1e-5, 1)
    assert np.abs(hist[0] - clipped / clipped.sum(0)).max() < 1e-6
    assert np.abs(dense_crf(img, p, n_iter=0) - hist[0]).max() < 1e-7
    Qg, hg = grid_crf(img, p, n_iter=2, return_history=True)
    assert len(hg) == 3 and np.array_equal(hg[-1], Qg)


def test_any_channels_and_float_images():
    rng = np.random.default_rng(6)
    p = _probs(rng, 3, 9, 10)
    for img in (rng.uniform(0, 1, (9, 10, 1)), rng.uniform(0, 255, (9, 10, 7)), rng.uniform(0, 9, (9, 10))):
        Q = dense_crf(img, p, theta_beta=0.5)
        assert Q.shape == (3, 9, 10) and Q.dtype == np.float32 and np.allclose(Q.sum(0), 1, atol=1e-5)


# ------------------------------------------------------------------ grid CRF
@pytest.mark.parametrize("connectivity", [4, 8])
def test_grid_crf_matches_loops(connectivity):
    rng = np.random.default_rng(7)
    H, W, L = 7, 9, 3
    img = rng.uniform(0, 255, (H, W, 3)).astype(np.uint8)
    p = _probs(rng, L, H, W)
    Q = grid_crf(img, p, n_iter=4, connectivity=connectivity, w_smooth=0.7, w_contrast=2.0)
    _, beta = edge_weights(img, connectivity)
    ref = naive.grid_mean_field(_unary(p).reshape(H, W, L), img, 4, connectivity, 0.7, 2.0, beta)
    assert np.abs(Q.transpose(1, 2, 0) - ref).max() < 1e-5


def test_kernel_exp_against_numpy_float64():
    """The CRFs' vectorised exp (x <= 0): relative error below 2e-7 down to -60, exactly 0 below."""
    from minideeplab.crf._softmax_kernels import exp_nonpositive

    x = -np.concatenate([np.linspace(0, 60, 100001), np.random.default_rng(0).exponential(5, 10000)])
    x = x[x >= -60].astype(np.float32)
    out = np.empty_like(x)
    exp_nonpositive(x, out)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 2e-7
    below = np.array([-np.inf, -1000.0, -87.0, np.nextafter(np.float32(-60), np.float32(-61))], np.float32)
    exp_nonpositive(below, out[:4])
    assert np.all(out[:4] == 0.0)


def test_dense_crf_beliefs_have_no_denormals():
    """Tiny beliefs are exactly 0 rather than float32 denormals (which slow the filters)."""
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    p = _probs(rng, 5, 20, 24) ** 8  # confident unaries: many beliefs far below 1e-38
    p /= p.sum(0)
    Q = dense_crf(img, p, w_bilateral=80.0, w_gaussian=20.0)
    tiny = (Q > 0) & (Q < np.finfo(np.float32).tiny)
    assert not tiny.any() and (Q == 0).any()


def test_grid_crf_float_image_with_huge_values_stays_finite():
    """Colour differences whose squares overflow float32 (1e30^2) must not give NaN."""
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 1e30, (6, 7, 3))
    p = _probs(rng, 3, 6, 7)
    for conn in (4, 8):
        Q = grid_crf(img, p, n_iter=3, connectivity=conn)
        assert np.all(np.isfinite(Q)) and np.allclose(Q.sum(0), 1, atol=1e-5)


def test_auto_contrast_is_half_inverse_mean_squared_difference():
    img = np.zeros((2, 3, 1))
    img[0, 1] = 2.0  # horizontal diffs: 4, 4, 0, 0; vertical: 0, 4, 0 -> mean 12/7
    _, beta = edge_weights(img, 4)
    assert beta == pytest.approx(0.5 / (12 / 7))


def test_shrinking_bias_grid_erases_thin_structure_dense_keeps_it():
    """A 1-pixel line whose unary is weak: the grid CRF, paying for its long boundary,
    erases it; the fully connected CRF links all the line's pixels by colour and keeps it."""
    img, line, p = thin_line_scene()
    unary_line = (p.argmax(0) == 1)
    assert unary_line[line].all()
    grid = grid_crf(img, p, n_iter=10, connectivity=8, w_smooth=1.0, w_contrast=0.0)
    # pydensecrf's MSRC parameters (w1 = 10, theta_beta = 13; w2 = 3, theta_gamma = 3)
    dense = dense_crf(img, p, n_iter=10, w_bilateral=10.0, theta_alpha=60.0, theta_beta=13.0,
                      w_gaussian=3.0, theta_gamma=3.0)
    assert (grid.argmax(0) == 1)[line].mean() < 0.1  # erased
    assert (dense.argmax(0) == 1)[line].mean() > 0.9  # kept
    assert (dense.argmax(0) == 1)[~line].mean() < 0.01


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    rng = np.random.default_rng(8)
    img = rng.uniform(0, 255, (6, 7, 3)).astype(np.uint8)
    p = _probs(rng, 3, 6, 7)
    for fn in (dense_crf, grid_crf):
        with pytest.raises(ValueError, match="must agree on"):
            fn(img[:5], p)
        with pytest.raises(ValueError, match="probs must have shape"):
            fn(img, p[0])
        bad = p.copy()
        bad[0, 0, 0] = -0.1
        with pytest.raises(ValueError, match="non-negative"):
            fn(img, bad)
        bad[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="probs contains NaN"):
            fn(img, bad)
        with pytest.raises(ValueError, match="sum to one"):
            fn(img, p * 2)
        with pytest.raises(ValueError, match="image is empty"):
            fn(np.zeros((0, 7, 3)), np.zeros((3, 0, 7)))
        with pytest.raises(ValueError, match="n_iter must be >= 0"):
            fn(img, p, n_iter=-1)
        with pytest.raises(TypeError, match="n_iter must be an int"):
            fn(img, p, n_iter=2.5)
        with pytest.raises(TypeError, match="probs must be a floating-point"):
            fn(img, (p > 0.5).astype(np.int64))
    with pytest.raises(ValueError, match=r"compat must be 'potts', an \(3, 3\) array or a \(2, 3, 3\) pair"):
        dense_crf(img, p, compat=np.eye(4))
    with pytest.raises(ValueError, match="theta_alpha must be a positive number"):
        dense_crf(img, p, theta_alpha=0)
    with pytest.raises(ValueError, match="method must be"):
        dense_crf(img, p, method="fast")
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        grid_crf(img, p, connectivity=6)
    big = np.full((2, 70, 70), 0.5)
    with pytest.raises(ValueError, match="method='exact' .* N <= 4096"):
        dense_crf(np.zeros((70, 70, 3)), big, method="exact")
