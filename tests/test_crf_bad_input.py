"""Bad and extreme input to the CRF package: a ValueError/TypeError that names the argument,
or a finite answer; never a crash, never a silent NaN.

The generated sweeps run in a subprocess (an interpreter crash fails the test instead of
killing the run); the examples below them are regression tests of inputs that once crashed
the interpreter, returned NaN or raised the wrong error.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minideeplab.crf.densecrf as dcrf
import minideeplab.crf.utils as utils
from minideeplab.crf import Lattice, bilateral_filter, dense_crf, grid_crf

HERE = os.path.dirname(os.path.abspath(__file__))
DOCUMENTED = (ValueError, TypeError)

SWEEP = r'''
import itertools, sys, warnings
import numpy as np
from minideeplab.crf import Lattice, dense_crf, grid_crf
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
base = rng.uniform(0, 1, (9, 11, 3))
p = rng.dirichlet(np.ones(3), (9, 11)).transpose(2, 0, 1)
scales = [0.0, 1.0, 255.0, 1e6, 1e30, 1e150, 1e300, -1e300, np.nan, np.inf]
numbers = [5e-324, 1e-300, 1e-3, 1.0, 80.0, 1e12, 1e13, 1e300, 0.0, -1.0, np.nan, np.inf, "3", None, True]
bad, n = [], 0

def check(name, fn):
    global n
    n += 1
    try:
        out = fn()
    except (ValueError, TypeError):
        return
    except Exception as e:
        bad.append(f"{name}: {type(e).__name__}: {e}")
        return
    out = out[0] if isinstance(out, tuple) else out
    if not (np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1 + 1e-5):
        bad.append(f"{name}: result not a finite distribution")

for s, method in itertools.product(scales, ["lattice", "exact"]):
    check(f"dense image*{s} {method}", lambda: dense_crf(base * s, p, method=method, n_iter=2))
for s in scales:
    check(f"grid image*{s}", lambda: grid_crf(base * s, p, n_iter=2, connectivity=8))
for arg, v, method in itertools.product(["theta_alpha", "theta_beta", "theta_gamma", "w_bilateral", "w_gaussian"],
                                        numbers, ["lattice", "exact"]):
    check(f"dense {arg}={v!r} {method}", lambda: dense_crf(base * 255, p, method=method, n_iter=2, **{arg: v}))
for arg, v, flat in itertools.product(["w_smooth", "w_contrast", "beta", "connectivity", "n_iter"], numbers,
                                      [False, True]):
    check(f"grid {arg}={v!r} flat={flat}", lambda: grid_crf(base * (0 if flat else 255), p, **{arg: v}))
for d, s in itertools.product([1, 2, 5, 40], scales):
    check(f"lattice d={d} *{s}", lambda: Lattice(rng.uniform(0, 1, (30, d)) * s).filter(np.ones(30)) / 1e300)
import minideeplab.crf.densecrf as dcrf
import minideeplab.crf.utils as utils
U = -np.log(p.reshape(3, -1)).astype(np.float32)
odd = [None, "3", True, -1, 0, 2.5, np.nan, np.inf, 1e300, 5e-324, [1, 2], np.zeros((2, 2)), np.zeros((0, 3))]

def pydensecrf_run(W=11, H=9, L=3, unary=U, sxy=3, srgb=13, compat=10, image=base * 255, n=3, norm=3, kernel=1):
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=sxy, compat=compat, kernel=kernel, normalization=norm)
    d.addPairwiseBilateral(sxy=sxy, srgb=srgb, rgbim=image, compat=compat)
    return np.array(d.inference(n))

for arg, v in itertools.product(["W", "H", "L", "unary", "sxy", "srgb", "compat", "image", "n", "norm", "kernel"],
                                odd + [U * 1e29, U * 1e31, -U, base.astype(np.uint8)]):
    check(f"DenseCRF2D {arg}={v!r:.30}", lambda: pydensecrf_run(**{arg: v}))
for v in odd + [p, -p, p * 2, p.astype(np.int64)]:
    check(f"unary_from_softmax {v!r:.30}", lambda: np.exp(-utils.unary_from_softmax(v)))
    check(f"unary_from_labels labels={v!r:.30}", lambda: np.exp(-utils.unary_from_labels(v, 3, 0.7)))
    check(f"unary_from_labels n={v!r:.30}", lambda: np.exp(-utils.unary_from_labels(np.arange(4), v, 0.7)))
    check(f"unary_from_labels gt_prob={v!r:.30}", lambda: np.exp(-utils.unary_from_labels(np.arange(4), 5, v)))
print(n, "cases")
print("\n".join(bad))
sys.exit(1 if bad else 0)
'''


@pytest.mark.slow
def test_generated_extreme_inputs_never_crash_or_return_nan():
    proc = subprocess.run([sys.executable, "-c", SWEEP], capture_output=True, text=True, cwd=os.path.dirname(HERE),
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert int(proc.stdout.split()[0]) >= 600


_img = np.random.default_rng(1).uniform(0, 255, (7, 8, 3))
_p = np.random.default_rng(2).dirichlet(np.ones(3), (7, 8)).transpose(2, 0, 1)
_any = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10 ** 20), st.none(),
                 st.text(max_size=3), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["theta_alpha", "theta_beta", "theta_gamma", "w_bilateral", "w_gaussian", "n_iter",
                        "compat", "normalization", "method", "bias"]), _any)
def test_dense_crf_any_argument_value(name, value):
    try:
        Q = dense_crf(_img, _p, n_iter=2, **{name: value})
    except DOCUMENTED as e:
        assert name in str(e) or "must" in str(e)
        return
    assert np.all(np.isfinite(Q)) and np.allclose(Q.sum(0), 1, atol=1e-4)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["w_smooth", "w_contrast", "beta", "connectivity", "n_iter"]), _any)
def test_grid_crf_any_argument_value(name, value):
    try:
        Q = grid_crf(_img, _p, n_iter=2, **{name: value})
    except DOCUMENTED as e:
        assert name in str(e)
        return
    assert np.all(np.isfinite(Q)) and np.allclose(Q.sum(0), 1, atol=1e-4)


# ------------------------------------------------------------------ regressions
def test_huge_features_are_refused_not_a_crash():
    with pytest.raises(ValueError, match="image / theta_beta reach 2e\\+299"):
        dense_crf(_img * 0 + 1e300, _p)
    for theta in ("theta_alpha", "theta_gamma"):
        with pytest.raises(ValueError, match=f"positions / {theta}"):
            dense_crf(_img, _p, **{theta: 1e-300})
    with pytest.raises(ValueError, match="positions / theta_alpha .* reach inf"):
        dense_crf(_img, _p, theta_alpha=5e-324)
    with pytest.raises(ValueError, match="features reach 3.7e\\+09"):  # would alias in int32 keys
        Lattice(np.array([[0.0], [3.7e9]]))
    Q = dense_crf(_img[:4, :4], _p[:, :4, :4], theta_gamma=1e-300, method="exact")  # far apart: no interaction
    assert np.all(np.isfinite(Q))


def test_weights_and_energies_that_would_overflow_are_refused():
    with pytest.raises(ValueError, match="w_bilateral must be a number in \\[0, 1e\\+12\\]"):
        dense_crf(_img, _p, w_bilateral=1e300)
    with pytest.raises(ValueError, match="w_smooth"):
        grid_crf(_img, _p, w_smooth=1e38)
    with pytest.raises(ValueError, match="image values reach 1e\\+300"):
        grid_crf(np.where(_img > 100, 1e300, 0.0), _p)
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        grid_crf(_img, _p, connectivity=4.0)
    with pytest.raises(ValueError, match="beta must be a number"):  # inf x a flat region's 0 was NaN
        grid_crf(np.zeros_like(_img), _p, beta=float("inf"))
    assert np.all(np.isfinite(grid_crf(np.zeros_like(_img), _p, beta=1e308)))
    d = dcrf.DenseCRF2D(8, 7, 3)
    with pytest.raises(ValueError, match="unary must be finite and within 1e\\+30"):
        d.setUnaryEnergy(np.full((3, 56), 1e300))


def test_pydensecrf_api_names_the_bad_argument():
    d = dcrf.DenseCRF2D(8, 7, 3)
    with pytest.raises(ValueError, match="sxy\\[0\\] must be a positive number, got nan"):
        d.addPairwiseGaussian(sxy=float("nan"))
    with pytest.raises(ValueError, match="srgb\\[0\\] must be a positive number, got 0"):
        d.addPairwiseBilateral(sxy=3, srgb=0, rgbim=_img)
    with pytest.raises(TypeError, match="compat must be a number"):
        d.addPairwiseGaussian(sxy=3, compat="3")
    with pytest.raises(ValueError, match="n_labels must be an int >= 2"):
        utils.unary_from_labels(np.zeros(4, int), 1, 0.7)
    with pytest.raises(ValueError, match="n_labels must be an int >= 2"):
        utils.unary_from_labels(np.zeros(4, int), 0, 0.7)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        utils.unary_from_labels(np.array([-1, 2]), 3, 0.7)
    with pytest.raises(ValueError, match="sm must hold probabilities"):
        utils.unary_from_softmax(-np.ones((2, 3)))


def test_any_number_of_channels():
    img = np.random.default_rng(3).uniform(0, 255, (7, 8, 40))
    Q = dense_crf(img, _p, theta_beta=60.0)  # 42-D bilateral features: the array-key lattice
    exact = dense_crf(img, _p, theta_beta=60.0, method="exact")
    assert np.abs(exact - _p).mean() > 0.1  # the CRF moved the beliefs ...
    assert np.abs(Q - exact).mean() < 2e-3  # ... and the lattice followed the exact sums (3e-4 measured)
    assert np.all(np.isfinite(bilateral_filter(img)))


def test_deprecated_pydensecrf_names():
    labels = np.array([0, 1, 2, 2, 1])
    with pytest.warns(DeprecationWarning, match="compute_unary is deprecated"):
        U = utils.compute_unary(labels, 2, 0.7)
    np.testing.assert_array_equal(U, utils.unary_from_labels(labels, 2, 0.7))
    sm = np.random.default_rng(0).dirichlet(np.ones(3), 5).T
    with pytest.warns(DeprecationWarning, match="softmax_to_unary is deprecated"):
        U = utils.softmax_to_unary(sm, GT_PROB=0.8)
    np.testing.assert_allclose(U, utils.unary_from_softmax(sm, 0.8, clip=None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        utils.unary_from_softmax(sm)
