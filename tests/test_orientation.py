"""Orientation-histogram features: the binning against a per-pixel loop, the rectangle shares
against sums by hand, an edge's orientation landing in its bin, and bad input."""
import math

import numpy as np
import pytest
from scipy import ndimage

from minideeplab.unaries.orientation import EPS, ORIENTATION_RECTS, orientation_channels, orientation_features


def channels_twin(L, bins, sigma):
    """orientation_channels pixel by pixel, in float64."""
    gy = ndimage.gaussian_filter(L.astype(np.float64), sigma, order=(1, 0))
    gx = ndimage.gaussian_filter(L.astype(np.float64), sigma, order=(0, 1))
    H, W = L.shape
    out = np.zeros((H, W, bins + 1))
    for y in range(H):
        for x in range(W):
            m = math.hypot(gx[y, x], gy[y, x])
            a = math.atan2(gy[y, x], gx[y, x])
            if a < 0:
                a += math.pi
            if a >= math.pi:
                a -= math.pi
            p = a / math.pi * bins
            b = int(math.floor(p))
            w = p - b
            out[y, x, b % bins] += m * (1 - w)
            out[y, x, (b + 1) % bins] += m * w
            out[y, x, bins] = m
    return out


def rect_sum_twin(ch, y, x, rect):
    """The mean of ch (H, W, C) over the rectangle offset from (y, x), clipped to the image."""
    H, W = ch.shape[:2]
    dy0, dx0, dy1, dx1 = rect
    rows = [r for r in range(y + dy0, y + dy1) if 0 <= r < H] or [0 if y + dy1 <= 0 else H - 1]
    cols = [c for c in range(x + dx0, x + dx1) if 0 <= c < W] or [0 if x + dx1 <= 0 else W - 1]
    return np.mean([ch[r, c] for r in rows for c in cols], axis=0)


@pytest.mark.parametrize("bins,sigma", [(8, 1.0), (5, 2.0), (2, 0.7)])
def test_channels_match_the_pixel_loop(rng, bins, sigma):
    L = rng.uniform(0, 100, size=(13, 17))
    got = orientation_channels(L, bins, sigma)
    assert got.shape == (13, 17, bins + 1) and got.dtype == np.float32
    want = channels_twin(L, bins, sigma)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got[..., :bins].sum(-1), got[..., bins], rtol=1e-5)


@pytest.mark.parametrize("angle_deg,bin_", [(0.0, 0), (45.0, 2), (90.0, 4), (135.0, 6), (157.5, 7)])
def test_a_ramp_falls_in_its_orientation_bin(angle_deg, bin_):
    """Lightness rising at angle a (and its mirror, a + 180 degrees): the magnitude goes to bin
    a / 22.5 degrees, away from the image border."""
    yy, xx = np.mgrid[0:41, 0:41] - 20.0
    a = math.radians(angle_deg)
    for sign in (1, -1):
        L = 50 + sign * 2.0 * (xx * math.cos(a) + yy * math.sin(a))
        centre = orientation_channels(L)[10:31, 10:31].reshape(-1, 9).sum(0)
        assert centre[bin_] > 0.999 * centre[8] and centre[8] == pytest.approx(441 * 2.0, rel=1e-3)


def test_features_are_shares_and_log_strength_of_each_rectangle(rng):
    L = rng.uniform(0, 100, size=(23, 31))
    L[:, 15:] += 50.0                            # a vertical edge
    rects = np.array([(0, 0, 1, 1), (-4, -4, 5, 5), (-40, -3, -30, 2), (-2, 8, 3, 40)], np.int64)
    f = orientation_features(L, rects)
    assert f.shape == (23, 31, 4 * 8 + 4) and f.dtype == np.float32
    ch = orientation_channels(L).astype(np.float64)
    for y, x in [(0, 0), (22, 30), (11, 14), (5, 20)]:
        for r, rect in enumerate(rects):
            m = rect_sum_twin(ch, y, x, rect)
            np.testing.assert_allclose(f[y, x, 8 * r:8 * r + 8], m[:8] / (m[8] + EPS), rtol=1e-5, atol=1e-6)
            assert f[y, x, 32 + r] == pytest.approx(np.log1p(m[8]), rel=1e-5)
    assert np.all(f[..., :32] >= 0) and np.all(f[..., :32].reshape(23, 31, 4, 8).sum(-1) <= 1 + 1e-5)


def test_default_rectangles_give_63_features():
    f = orientation_features(np.zeros((9, 12)))
    assert f.shape == (9, 12, 9 * len(ORIENTATION_RECTS)) == (9, 12, 63)
    np.testing.assert_array_equal(f, 0.0)        # no edges: shares 0, strength log(1) = 0


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((4, 4, 3)), ValueError, "lightness.*(H, W)"),
    (np.zeros((0, 4)), ValueError, "lightness"),
    (np.full((4, 4), np.nan), ValueError, "lightness.*NaN"),
    (np.array([["a"]]), ValueError, "lightness"),
])
def test_bad_lightness_is_named(bad, exc, match):
    with pytest.raises(exc, match=match):
        orientation_features(bad)


def test_bad_parameters_are_named():
    L = np.zeros((8, 8))
    with pytest.raises(ValueError, match="bins"):
        orientation_channels(L, bins=1)
    with pytest.raises(ValueError, match="sigma"):
        orientation_channels(L, sigma=0.0)
    with pytest.raises(ValueError, match="rects"):
        orientation_features(L, rects=np.array([(0, 0, 0, 1)]))
