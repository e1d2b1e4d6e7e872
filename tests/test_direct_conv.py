"""The direct 3x3 convolution pair (``nn.direct``): against the loop twin, float64 numerical
gradients, the im2col pair on the threaded float32 path, and the one dispatch in ``Conv2d``."""
import numpy as np
import pytest

import naive
from minideeplab import nn
from minideeplab.nn import direct, numerical_gradient, rel_error


def _pass(N, C, F, H, W, d, rng, bias=True):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, 3, 3))
    b = rng.standard_normal(F) if bias else None
    out, cache = nn.conv2d_direct_forward(x, w, b, d)
    assert rel_error(out, naive.conv2d(x, w, b, 1, d, d)) < 1e-12
    dout = rng.standard_normal(out.shape)
    return x, w, b, dout, nn.conv2d_direct_backward(dout, cache)


@pytest.mark.parametrize("C,F,H,W,d", [(1, 1, 1, 1, 1), (2, 3, 1, 5, 1), (3, 2, 5, 1, 1), (3, 4, 6, 7, 1),
                                       (2, 3, 7, 6, 2), (3, 2, 9, 11, 3), (2, 2, 5, 13, 4), (1, 2, 13, 13, 12), (2, 2, 2, 2, 3)])
def test_direct_conv_matches_naive_and_gradients(C, F, H, W, d, rng):
    """Maps smaller than the dilated kernel, single rows and columns, and dilations up to fc6's 12."""
    x, w, b, dout, (dx, dw, db) = _pass(2, C, F, H, W, d, rng)
    f = lambda: nn.conv2d_direct_forward(x, w, b, d)[0]
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient(f, w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient(f, b, dout)) < 1e-8


def test_direct_conv_takes_strided_views(rng):
    """Transposed and sliced x and dout (the wrapper copies them into C order for the kernels)."""
    x = rng.standard_normal((5, 3, 9, 2)).transpose(3, 1, 0, 2)[:, :, ::2]   # (2, 3, 3, 9), not contiguous
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = nn.conv2d_direct_forward(x, w, b, 1)
    ref, ref_cache = nn.conv2d_im2col_forward(np.ascontiguousarray(x), w, b, 1, 1, 1)
    assert rel_error(out, ref) < 1e-12
    dout = rng.standard_normal((4, 2, 3, 9)).transpose(1, 0, 2, 3)
    for got, want in zip(nn.conv2d_direct_backward(dout, cache), nn.conv2d_im2col_backward(np.ascontiguousarray(dout),
                                                                                             ref_cache)):
        assert rel_error(got, want) < 1e-12


def test_direct_conv_without_bias_and_input_grad(rng):
    x, w, b, dout, (dx, dw, db) = _pass(1, 3, 2, 6, 5, 1, rng, bias=False)
    assert db is None
    dx2, dw2, db2 = nn.conv2d_direct_backward(dout, nn.conv2d_direct_forward(x, w, None, 1)[1], input_grad=False)
    assert dx2 is None and db2 is None and rel_error(dw2, dw) < 1e-15


@pytest.mark.parametrize("d", [1, 2])
def test_direct_conv_threads_float32_match_im2col(d, rng):
    """DeepLab's conv1_2 shape at width 1/8 (rows split over the kernel threads), float32,
    against the im2col pair in float64."""
    x = rng.standard_normal((4, 8, 65, 67)).astype(np.float32)
    w = (rng.standard_normal((8, 8, 3, 3)) / 8).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    out, cache = nn.conv2d_direct_forward(x, w, b, d)
    ref, ref_cache = nn.conv2d_im2col_forward(*(a.astype(np.float64) for a in (x, w, b)), 1, d, d)
    assert out.dtype == np.float32 and rel_error(out, ref) < 1e-5
    dout = rng.standard_normal(out.shape).astype(np.float32)
    for got, want in zip(nn.conv2d_direct_backward(dout, cache),
                         nn.conv2d_im2col_backward(dout.astype(np.float64), ref_cache)):
        assert got.dtype == np.float32 and rel_error(got, want) < 1e-5


def test_direct_applies_and_its_bad_input_errors(rng, monkeypatch):
    x = np.zeros((1, 8, 9, 9), np.float32)
    assert direct.MAX_CHANNELS == 8                                        # the measured value, the default
    w8 = np.zeros((8, 8, 3, 3), np.float32)   # width 1/8's conv1_2
    assert direct.applies(x, w8, (1, 1), (1, 1), (1, 1)) and direct.applies(x, w8, (1, 1), (2, 2), (2, 2))
    assert direct.applies(x[:, :3], w8[:, :3], (1, 1), (1, 1), (1, 1))          # conv1_1: RGB in
    assert not direct.applies(x, np.zeros((9, 8, 3, 3), np.float32), (1, 1), (1, 1), (1, 1))  # conv2_1: 8 -> 16
    assert not direct.applies(x, w8, (2, 2), (1, 1), (1, 1))
    assert not direct.applies(x, w8, (1, 1), (0, 0), (1, 1))
    assert not direct.applies(x, w8.astype(np.float64), (1, 1), (1, 1), (1, 1))
    assert not direct.applies(x.astype(np.float16), w8.astype(np.float16), (1, 1), (1, 1), (1, 1))
    assert not direct.applies(x[:, :5], w8, (1, 1), (1, 1), (1, 1))  # channels differ
    monkeypatch.setattr(direct, "MAX_CHANNELS", 0)                         # 0 turns it off
    assert not direct.applies(x[:, :3], w8[:, :3], (1, 1), (1, 1), (1, 1))
    xs, ws = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3))
    with pytest.raises(ValueError, match="same C"):
        nn.conv2d_direct_forward(xs, ws[:, :1])
    with pytest.raises(ValueError, match="dilation must be a positive int"):
        nn.conv2d_direct_forward(xs, ws, None, 0)
    with pytest.raises(TypeError, match="float32 or float64 NumPy array"):
        nn.conv2d_direct_forward(xs.astype(np.float16), ws)
    with pytest.raises(ValueError, match="b must have shape"):
        nn.conv2d_direct_forward(xs, ws, np.zeros(2))
    with pytest.raises(ValueError, match="dout must be a NumPy array of shape"):
        nn.conv2d_direct_backward(np.zeros((1, 3, 5, 5)), nn.conv2d_direct_forward(xs, ws)[1])


def _layer(C, F, padding, dilation, rng, algorithm="auto"):
    layer = nn.Conv2d(C, F, 3, padding=padding, dilation=dilation, dtype=np.float64, algorithm=algorithm)
    layer.params["weight"][...] = rng.standard_normal((F, C, 3, 3))
    layer.params["bias"][...] = rng.standard_normal(F)
    return layer


@pytest.mark.parametrize("padding,dilation", [(1, 1), (2, 2)])
def test_conv2d_layer_takes_the_direct_pair_up_to_max_channels(padding, dilation, rng, monkeypatch):
    """On "auto" a layer with at most MAX_CHANNELS input and output channels runs the direct pair,
    one more channel im2col; the two give the same values and gradients. (MAX_CHANNELS lowered
    so that the float64 loops stay small.)"""
    monkeypatch.setattr(direct, "MAX_CHANNELS", 4)
    monkeypatch.setattr(nn.taps, "MAX_INSIDE", -1.0)  # its rule would take the dilated 5-channel layer
    x = rng.standard_normal((2, 4, 6, 5))
    for F, expected in ((4, "direct"), (5, "im2col")):
        layer = _layer(4, F, padding, dilation, rng)
        assert layer.algorithm_for(x) == expected
        out = layer.forward(x)
        assert layer.last_algorithm == expected
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
        other = "im2col" if expected == "direct" else "direct"
        twin = _layer(4, F, padding, dilation, rng, algorithm=other)
        twin.params["weight"][...], twin.params["bias"][...] = layer.params["weight"], layer.params["bias"]
        assert rel_error(twin.forward(x), out) < 1e-12 and twin.last_algorithm == other
        assert rel_error(twin.backward(dout), dx) < 1e-12
        for k in ("weight", "bias"):
            assert rel_error(twin.grads[k], layer.grads[k]) < 1e-12
    assert _layer(4, 4, padding, dilation, rng).algorithm_for(x.astype(np.float32)) == "im2col"  # dtypes differ
    with pytest.raises(ValueError, match="direct pair needs"):
        nn.Conv2d(4, 4, 3, padding=1, stride=2, algorithm="direct")
