"""The CRF's fast paths against their readable twins, to float rounding.

- ``Lattice`` against ``naive.lattice_filter`` (the same algorithm with a dict of vertices);
- the fused lattice mean field (``LatticeMeanField``, behind ``dense_crf(method="lattice")``)
  against the readable loop (``meanfield.mean_field``) run on the same lattices, for every
  normalisation, Potts and a full compatibility;
- one kernel thread against two: the same bits, on images large enough to be split.
"""
import numba
import numpy as np
import pytest

import naive
from minideeplab._numba import get_num_threads, set_num_threads
from minideeplab.crf import Lattice, bilateral_filter, dense_crf, grid_crf
from minideeplab.crf.dense import pixel_features, unary_from_probs
from minideeplab.crf.meanfield import mean_field
from minideeplab.crf.pairwise import GaussianKernel, normalization_constant


def _scene(rng, L, H, W):
    """A blocky image and probabilities that roughly follow it."""
    blocks = rng.integers(0, L, (H // 8 + 1, W // 8 + 1))
    gt = np.kron(blocks, np.ones((8, 8), int))[:H, :W]
    colours = rng.uniform(0, 255, (L, 3))
    img = np.clip(colours[gt] + rng.normal(0, 12, (H, W, 3)), 0, 255).astype(np.uint8)
    logits = 1.5 * np.eye(L)[gt].transpose(2, 0, 1) + rng.normal(0, 1.0, (L, H, W))
    p = np.exp(logits - logits.max(0))
    return img, p / p.sum(0)


@pytest.mark.parametrize("d,origin", [(1, 0.0), (2, 0.0), (3, 0.0), (5, 0.0), (10, 0.0), (3, 1e5)])
def test_lattice_equals_the_readable_lattice(d, origin):
    """Keys packed in one integer (small d and range) and keys as arrays (d = 10, or far from 0)."""
    rng = np.random.default_rng(d)
    f = origin + rng.uniform(0, 4.0, (250, d))
    v = rng.standard_normal((250, 2))
    lat = Lattice(f)
    for transpose in (False, True):
        ref = naive.lattice_filter(f, v, transpose)
        assert np.abs(lat.filter(v, transpose=transpose) - ref).max() < 2e-6 * np.abs(ref).max()


def test_lattice_properties_describe_the_splat():
    f = np.random.default_rng(0).uniform(0, 3, (40, 2))
    lat = Lattice(f)
    assert lat.vertices.shape == (40, 3) and lat.barycentric.shape == (40, 3)
    assert np.allclose(lat.barycentric.sum(1), 1.0, atol=1e-6) and lat.barycentric.min() >= 0
    assert lat.vertices.max() < lat.n_vertices and lat.neighbors.shape == (3, lat.n_vertices, 2)
    assert lat.alpha == pytest.approx(1 / (1 + 2 ** -2))
    with pytest.raises(ValueError):
        lat.vertices[0, 0] = 1  # read-only views


CASES = [("potts", n) for n in ("symmetric", "before", "after", "none")] + [
    ("matrix", "symmetric"), ("matrix", "after"), ("per kernel", "symmetric"), ("per kernel", "before")]


@pytest.mark.parametrize("compat,normalization", CASES)
def test_lattice_mean_field_equals_the_readable_loop_on_the_same_lattices(compat, normalization):
    rng = np.random.default_rng(5)
    L, H, W = 5, 26, 31
    img, p = _scene(rng, L, H, W)
    w1, ta, tb, w2, tg = (1.5, 6.0, 20.0, 1.0, 2.0) if normalization != "none" else (0.1, 3.0, 20.0, 0.05, 1.5)
    mu = 1 - np.eye(L) if compat == "potts" else rng.uniform(-0.5, 1.5, (2, L, L) if compat == "per kernel" else (L, L))
    Q = dense_crf(img, p, n_iter=4, w_bilateral=w1, theta_alpha=ta, theta_beta=tb, w_gaussian=w2, theta_gamma=tg,
                  compat=compat if compat == "potts" else mu, normalization=normalization)
    features = [pixel_features(img, H, W, ta, tb), pixel_features(img, H, W, tg)]
    kernels = [GaussianKernel.on(Lattice(f), normalization_constant(normalization)) for f in features]
    mu_energy = -np.eye(L) if compat == "potts" else mu  # Potts = -I up to a per-pixel constant
    mu_b, mu_g = mu_energy if compat == "per kernel" else (mu_energy, mu_energy)  # bilateral, Gaussian
    ref = mean_field(unary_from_probs(p), kernels, [w1 * mu_b, w2 * mu_g], 4)
    assert np.abs(Q.reshape(L, -1).T - ref).max() < 1e-5
    assert np.abs(Q.reshape(L, -1).T - unary_from_probs(p)).max() > 0.05  # the CRF did something


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
def test_one_thread_and_two_give_the_same_bits():
    """Big enough that every threaded step splits its rows (>= 16384 pixels, >= 64 rows)."""
    rng = np.random.default_rng(7)
    L, H, W = 6, 131, 140
    img, p = _scene(rng, L, H, W)
    mu = rng.uniform(0, 1, (L, L))
    features = pixel_features(img, H, W, 30.0, 13.0)
    values = rng.standard_normal((H * W, 3))

    def run():
        return [dense_crf(img, p, n_iter=3), dense_crf(img, p, n_iter=2, compat=mu),
                grid_crf(img, p, n_iter=3, connectivity=8), Lattice(features).filter(values),
                bilateral_filter(img)]

    before = get_num_threads()
    try:
        set_num_threads(1)
        one = run()
        set_num_threads(2)
        two = run()
    finally:
        set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
