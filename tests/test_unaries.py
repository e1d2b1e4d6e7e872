"""TextonBoost-style unaries: CIE Lab against the standard's reference values, and the filter
bank's responses on images whose answers are known in closed form."""
import numpy as np
import pytest

from minideeplab.unaries import FILTERS, filter_bank, rgb_to_lab


@pytest.mark.parametrize("rgb, lab", [
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.2408, 80.0925, 67.2032)),    # sRGB primaries in CIE L*a*b* (D65)
    ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
    ((128, 128, 128), (53.5850, 0.0, 0.0)),
])
def test_lab_reference_values(rgb, lab):
    out = rgb_to_lab(np.array(rgb, np.uint8).reshape(1, 1, 3))[0, 0]
    np.testing.assert_allclose(out, lab, atol=0.01)


def test_filter_bank_on_known_images():
    assert len(FILTERS) == 17
    flat = np.full((40, 50, 3), 90, np.uint8)
    r = filter_bank(flat)
    L = rgb_to_lab(flat)[0, 0, 0]
    gauss_L = [k for k, f in enumerate(FILTERS) if f[0] == "gaussian" and f[2] == 0]
    np.testing.assert_allclose(r[:, :, gauss_L], L, rtol=1e-5)   # a blur keeps a constant
    others = [k for k, f in enumerate(FILTERS) if f[0] != "gaussian"]
    # no edges, no blobs: 0 up to the truncated kernels (scipy cuts them at 4 sigma), ~1e-4 of L
    np.testing.assert_allclose(r[:, :, others], 0.0, atol=2e-4 * L)
    # a gray ramp: L rises left to right, so d/dx > 0 and d/dy = 0 away from the borders
    ramp = np.repeat(np.repeat(np.linspace(40, 200, 60).astype(np.uint8)[None, :, None], 30, 0), 3, 2)
    r = filter_bank(ramp)
    dx = [k for k, f in enumerate(FILTERS) if f[0] == "dx"]
    dy = [k for k, f in enumerate(FILTERS) if f[0] == "dy"]
    inner = (slice(10, 20), slice(15, 45))
    assert np.all(r[inner][:, :, dx] > 0)
    np.testing.assert_allclose(r[inner][:, :, dy], 0.0, atol=1e-3)
    # a bright dot: the Laplacian of Gaussian is negative at its centre (a blob detector)
    dot = np.zeros((41, 41, 3), np.uint8)
    dot[20, 20] = 255
    r = filter_bank(dot)
    log = [k for k, f in enumerate(FILTERS) if f[0] == "log"]
    assert np.all(r[20, 20, log] < 0) and r.dtype == np.float32 and r.shape == (41, 41, 17)


def test_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_lab(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        filter_bank(np.zeros((2, 2), np.uint8))


def test_textons_assign_the_nearest_centre_and_cluster(rng):
    from minideeplab.unaries.textons import Textons, sample_responses

    # three well separated blobs in 4-D: k-means must find them
    centres = np.array([[0, 0, 0, 0], [10, 0, 0, 0], [0, 10, 10, 0]], np.float64)
    x = np.concatenate([c + rng.standard_normal((200, 4)) * 0.5 for c in centres])
    t = Textons.fit(x, k=3, seed=1)
    found = t.centers * t.scale + t.mean
    order = [int(np.argmin(((found - c) ** 2).sum(1))) for c in centres]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(found[order], centres, atol=0.2)
    # assignment against the loop: nearest standardised centre
    q = rng.standard_normal((7, 5, 4)) * 6
    got = t.assign(q)
    for i in range(7):
        for j in range(5):
            z = (q[i, j] - t.mean) / t.scale
            assert got[i, j] == np.argmin([((z - c) ** 2).sum() for c in t.centers])
    s = sample_responses([np.arange(60.0).reshape(3, 5, 4)], 4, rng)
    assert s.shape == (4, 4) and len({tuple(v) for v in s}) == 4  # distinct pixels
    with pytest.raises(ValueError, match="M >= k"):
        Textons.fit(x[:2], k=3)


def test_layout_features_against_counting(rng):
    from minideeplab.unaries.layout import layout_features, random_layout_features

    tm = rng.integers(0, 5, size=(13, 17))
    rects, textons = random_layout_features(12, 5, rng, reach=10, min_side=1, max_side=8)
    rects[0] = (-20, -20, -15, -15)  # wholly outside for every pixel near the top-left: 0
    got = layout_features(tm, rects, textons)
    assert got.shape == (13, 17, 12) and got.dtype == np.float32
    for f in range(12):
        dy0, dx0, dy1, dx1 = rects[f]
        for y in range(13):
            for x in range(17):
                n = sum(tm[yy, xx] == textons[f] for yy in range(y + dy0, y + dy1) for xx in range(x + dx0, x + dx1)
                        if 0 <= yy < 13 and 0 <= xx < 17)
                assert got[y, x, f] == pytest.approx(n / ((dy1 - dy0) * (dx1 - dx0)), abs=1e-6)
    with pytest.raises(ValueError, match="dy1 > dy0"):
        layout_features(tm, np.array([[0, 0, 0, 3]]), np.array([1]))


def test_textons_refuse_nan():
    from minideeplab.unaries.textons import Textons

    x = np.ones((10, 3))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Textons.fit(x, k=2)
