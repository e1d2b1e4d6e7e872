"""minideeplab.crf.densecrf / utils against pydensecrf2 (a dev extra) and by themselves."""
import numpy as np
import pytest

import minideeplab.crf.densecrf as dcrf
import minideeplab.crf.utils as utils
from conftest import MSRC_DIR, needs_msrc
from minideeplab.crf import dense_crf
from minideeplab.datasets import MSRC, noisy_probs


def _msrc_images(n):
    """``n`` test images spread over the split, each with unaries made from its ground truth."""
    ds = MSRC(MSRC_DIR, "test")
    out = []
    for k, i in enumerate(range(0, len(ds), len(ds) // n)[:n]):
        img, gt = ds[i]
        out.append((img, noisy_probs(gt, 21, strength=2.0, noise=6.0, smooth=4.0, rng=k, dtype=np.float32)))
    return out


def _ours_2d(img, U, L, build):
    H, W = img.shape[:2]
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(U)
    build(d, img)
    return d


@needs_msrc
def test_dense_crf_agrees_with_pydensecrf_on_msrc():
    ref = pytest.importorskip("pydensecrf.densecrf")
    from pydensecrf.utils import unary_from_softmax

    agree = []
    for img, p in _msrc_images(6):
        L, H, W = p.shape
        d = ref.DenseCRF2D(W, H, L)
        d.setUnaryEnergy(unary_from_softmax(p))
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.array(img), compat=10)  # a writable copy: pydensecrf needs one
        R = np.array(d.inference(10)).reshape(L, H, W)
        Q = dense_crf(img, p, n_iter=10, w_bilateral=10, theta_alpha=80, theta_beta=13, w_gaussian=3, theta_gamma=3)
        agree.append((Q.argmax(0) == R.argmax(0)).mean())
        assert (R.argmax(0) != p.argmax(0)).mean() > 0.01  # the CRF did change the labelling
    assert min(agree) >= 0.995, agree


@pytest.mark.parametrize("case", ["potts", "diag", "matrix", "normalizations", "features"])
def test_compat_api_matches_pydensecrf(case):
    ref = pytest.importorskip("pydensecrf.densecrf")
    ref_utils = pytest.importorskip("pydensecrf.utils")
    rng = np.random.default_rng(0)
    H, W, L = 24, 30, 4
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    img[:, 15:] //= 3
    p = np.ascontiguousarray(rng.dirichlet(np.ones(L), size=H * W).T.reshape(L, H, W), dtype=np.float32)
    U = ref_utils.unary_from_softmax(p)
    assert np.array_equal(U, utils.unary_from_softmax(p))
    diag = np.array([-3.0, -1.0, -2.0, -0.5], np.float32)
    mat = (-2.0 * np.eye(L) + 0.3 * rng.random((L, L))).astype(np.float32)

    def build(mod, d):
        if case == "potts":
            d.addPairwiseGaussian(sxy=3, compat=3)
            d.addPairwiseBilateral(sxy=20, srgb=13, rgbim=img, compat=10)
        elif case == "diag":
            d.addPairwiseBilateral(sxy=(20, 10), srgb=(13, 20, 30), rgbim=img, compat=diag)
        elif case == "matrix":
            d.addPairwiseGaussian(sxy=2, compat=mat)
        elif case == "normalizations":
            d.addPairwiseGaussian(sxy=3, compat=3, normalization=mod.NORMALIZE_AFTER)
            d.addPairwiseBilateral(sxy=20, srgb=13, rgbim=img, compat=5, normalization=mod.NORMALIZE_BEFORE)
            d.addPairwiseGaussian(sxy=5, compat=1, normalization=mod.NO_NORMALIZATION, kernel=mod.CONST_KERNEL)
        else:
            feats = ref_utils.create_pairwise_bilateral(sdims=(10, 10), schan=(20,), img=img[:, :, :1], chdim=2)
            assert np.array_equal(feats, utils.create_pairwise_bilateral((10, 10), (20,), img[:, :, :1], chdim=2))
            d.addPairwiseEnergy(feats, compat=4)
            g = ref_utils.create_pairwise_gaussian(sdims=(3, 3), shape=(H, W))
            assert np.array_equal(g, utils.create_pairwise_gaussian((3, 3), (H, W)))
            d.addPairwiseEnergy(g, compat=2)

    r = ref.DenseCRF2D(W, H, L)
    r.setUnaryEnergy(U)
    build(ref, r)
    o = dcrf.DenseCRF2D(W, H, L)
    o.setUnaryEnergy(U)
    build(dcrf, o)
    R_obj = r.inference(5)
    R, Q = np.array(R_obj), np.array(o.inference(5))
    assert Q.shape == R.shape == (L, H * W)
    assert np.abs(Q - R).max() < 2e-3
    assert (Q.argmax(0) == R.argmax(0)).mean() > 0.995
    assert o.klDivergence(Q) == pytest.approx(r.klDivergence(R_obj), rel=1e-3)
    # step-wise inference gives the same as inference()
    Qs, t1, t2 = o.startInference()
    for _ in range(5):
        o.stepInference(Qs, t1, t2)
    assert np.abs(Qs - Q).max() < 1e-6


def test_unary_from_labels_matches_pydensecrf():
    ref_utils = pytest.importorskip("pydensecrf.utils")
    labels = np.array([[0, 1, 2], [3, 1, 0]])
    for zero_unsure in (True, False):
        n = 4 if not zero_unsure else 3
        assert np.allclose(utils.unary_from_labels(labels, n, 0.7, zero_unsure),
                           ref_utils.unary_from_labels(labels, n, 0.7, zero_unsure=zero_unsure))
    p = np.random.default_rng(0).dirichlet(np.ones(3), size=10).T
    assert np.allclose(utils.unary_from_softmax(p, scale=0.8), ref_utils.unary_from_softmax(p, scale=0.8))


def test_what_pydensecrf_refuses():
    """float64, non-contiguous input, 5-channel images and 3-D feature sets all work."""
    rng = np.random.default_rng(1)
    H, W, L = 12, 14, 3
    img5 = rng.uniform(0, 255, (H, W * 2, 5))[:, ::2]  # non-contiguous, float64, 5 channels
    U = utils.unary_from_softmax(rng.dirichlet(np.ones(L), size=H * W).T).astype(np.float64)
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(U)
    d.addPairwiseBilateral(sxy=5, srgb=20, rgbim=img5, compat=5)
    Q = d.inference(3)
    assert Q.shape == (L, H * W) and np.allclose(Q.sum(0), 1, atol=1e-5)
    vol = rng.uniform(0, 1, (6, 7, 8))  # a 3-D volume, one channel
    feats = utils.create_pairwise_bilateral((2, 2, 2), (0.2,), vol, chdim=None)
    assert feats.shape == (4, 6 * 7 * 8)
    v = dcrf.DenseCRF(6 * 7 * 8, 2)
    v.setUnaryEnergy(utils.unary_from_softmax(np.stack([vol, 1 - vol]).reshape(2, -1)))
    v.addPairwiseEnergy(feats, compat=3)
    assert np.isfinite(v.inference(2)).all()


def test_compat_bad_input():
    d = dcrf.DenseCRF2D(5, 4, 3)
    with pytest.raises(ValueError, match=r"unary must have shape \(3, 20\)"):
        d.setUnaryEnergy(np.zeros((3, 19)))
    with pytest.raises(ValueError, match="compat must be a scalar"):
        d.addPairwiseGaussian(sxy=3, compat=np.ones(5))
    with pytest.raises(ValueError, match=r"rgbim must have shape \(4, 5, C\)"):
        d.addPairwiseBilateral(rgbim=np.zeros((5, 4, 3)))
    with pytest.raises(RuntimeError, match="setUnaryEnergy"):
        d.inference(1)
    with pytest.raises(ValueError, match="n_var must be a positive int"):
        dcrf.DenseCRF(0, 3)
    with pytest.raises(ValueError, match="gt_prob"):
        utils.unary_from_labels(np.zeros(3, int), 2, 1.5)
