"""Property tests: for any valid input, Q is a finite distribution per pixel."""
import numpy as np
from hypothesis import given, settings, strategies as st

from minideeplab.crf import dense_crf, grid_crf


@st.composite
def problems(draw):
    H = draw(st.integers(1, 9))
    W = draw(st.integers(1, 9))
    L = draw(st.integers(1, 5))
    C = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, draw(st.sampled_from([1.0, 255.0])), (H, W, C))
    raw = rng.random((L, H, W)) ** draw(st.sampled_from([1, 8]))  # some near-zero probabilities
    p = raw / np.maximum(raw.sum(0), 1e-300)
    p[:, raw.sum(0) == 0] = 1.0 / L
    return img, p


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 4), st.floats(0, 20), st.floats(0.5, 200), st.floats(0.1, 50))
def test_dense_crf_returns_distributions(prob, n_iter, w, theta_alpha, theta_beta):
    img, p = prob
    Q = dense_crf(img, p, n_iter=n_iter, w_bilateral=w, theta_alpha=theta_alpha, theta_beta=theta_beta)
    assert Q.shape == p.shape and Q.dtype == np.float32
    assert np.all(np.isfinite(Q)) and Q.min() >= 0
    assert np.allclose(Q.sum(0), 1, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(problems(), st.integers(0, 4), st.sampled_from([4, 8]), st.floats(0, 10), st.floats(0, 10))
def test_grid_crf_returns_distributions(prob, n_iter, conn, w_smooth, w_contrast):
    img, p = prob
    Q = grid_crf(img, p, n_iter=n_iter, connectivity=conn, w_smooth=w_smooth, w_contrast=w_contrast)
    assert Q.shape == p.shape and np.all(np.isfinite(Q)) and Q.min() >= 0
    assert np.allclose(Q.sum(0), 1, atol=1e-5)
