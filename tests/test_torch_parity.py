"""Values and gradients against PyTorch, where it is installed (a dev extra)."""
import pytest

from minideeplab import nn
from minideeplab.nn import rel_error

torch = pytest.importorskip("torch")
tF = torch.nn.functional


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _conv_pair(algorithm, s, p, d):
    """The forward(x, w, b) and backward of one algorithm with this geometry."""
    if algorithm == "winograd":
        return (lambda x, w, b: nn.conv2d_winograd_forward(x, w, b, d)), nn.conv2d_winograd_backward
    return (lambda x, w, b: nn.conv2d_im2col_forward(x, w, b, s, p, d)), nn.conv2d_im2col_backward


@pytest.mark.parametrize("C,F", [(3, 5), (16, 17)])
@pytest.mark.parametrize("s,p,d,algorithm", [(1, 1, 1, "im2col"), (2, 1, 1, "im2col"), (1, 2, 2, "im2col"),
                                             (1, 12, 12, "im2col"), (3, 0, 2, "im2col"), (1, 1, 1, "winograd"),
                                             (1, 2, 2, "winograd"), (1, 12, 12, "winograd")])
def test_conv_vs_torch(C, F, s, p, d, algorithm, rng):
    """Both pairs, each where it applies (Winograd: stride 1, padding = dilation)."""
    x = rng.standard_normal((2, C, 30, 27))
    w = rng.standard_normal((F, C, 3, 3))
    b = rng.standard_normal(F)
    forward, backward = _conv_pair(algorithm, s, p, d)
    out, cache = forward(x, w, b)
    tx, tw, tb = _t(x), _t(w), _t(b)
    tout = tF.conv2d(tx, tw, tb, stride=s, padding=p, dilation=d)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    dx, dw, db = backward(dout, cache)
    assert rel_error(out, tout.detach().numpy()) < 1e-12
    for ours, theirs in ((dx, tx), (dw, tw), (db, tb)):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-12


@pytest.mark.parametrize("d", [1, 2, 12])
def test_winograd_conv_float32_vs_torch(d, rng):
    """In float32, as in training: errors of a few 1e-7, as im2col's (measured 1e-7 to 5e-7)."""
    x = rng.standard_normal((1, 64, 41, 41)).astype("float32")
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype("float32")
    out, cache = nn.conv2d_winograd_forward(x, w, None, d)
    dout = rng.standard_normal(out.shape).astype("float32")
    dx, dw, _ = nn.conv2d_winograd_backward(dout, cache)
    tx, tw = (torch.tensor(a.astype("float64"), requires_grad=True) for a in (x, w))
    tout = tF.conv2d(tx, tw, padding=d, dilation=d)
    tout.backward(torch.tensor(dout.astype("float64")))
    assert rel_error(out, tout.detach().numpy()) < 2e-6
    assert rel_error(dx, tx.grad.numpy()) < 2e-6 and rel_error(dw, tw.grad.numpy()) < 2e-6


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("H,k,s,p", [(321, 3, 2, 1), (41, 3, 1, 1), (20, 2, 2, 0), (11, 3, 2, 1), (5, 3, 4, 1)])
def test_pool_vs_torch_ceil_mode(mode, H, k, s, p, rng):
    x = rng.standard_normal((1, 2, H, H))
    tx = _t(x)
    if mode == "max":
        out, cache = nn.maxpool2d_forward(x, k, s, p)
        tout = tF.max_pool2d(tx, k, s, p, ceil_mode=True)
        bwd = nn.maxpool2d_backward
    else:
        out, cache = nn.avgpool2d_forward(x, k, s, p)
        tout = tF.avg_pool2d(tx, k, s, p, ceil_mode=True, count_include_pad=True)
        bwd = nn.avgpool2d_backward
    assert out.shape == tuple(tout.shape)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    assert rel_error(out, tout.detach().numpy()) < 1e-12
    assert rel_error(bwd(dout, cache), tx.grad.numpy()) < 1e-12


@pytest.mark.parametrize("size", [(321, 321), (161, 97), (5, 5), (41, 33)])
def test_interp_vs_torch_align_corners(size, rng):
    x = rng.standard_normal((2, 3, 41, 33))
    out, cache = nn.interp_forward(x, size)
    tx = _t(x)
    tout = tF.interpolate(tx, size=size, mode="bilinear", align_corners=True)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    assert rel_error(out, tout.detach().numpy()) < 1e-12
    assert rel_error(nn.interp_backward(dout, cache), tx.grad.numpy()) < 1e-12


def test_cross_entropy_vs_torch(rng):
    scores = rng.standard_normal((3, 21, 9, 11)) * 4
    labels = rng.integers(0, 21, size=(3, 9, 11))
    labels[rng.random(labels.shape) < 0.2] = 255
    loss, cache = nn.softmax_cross_entropy_forward(scores, labels)
    ts = _t(scores)
    tloss = tF.cross_entropy(ts, torch.tensor(labels), ignore_index=255, reduction="mean")
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-12
    assert rel_error(nn.softmax_cross_entropy_backward(cache), ts.grad.numpy()) < 1e-12


def test_weighted_cross_entropy_vs_torch(rng):
    scores = rng.standard_normal((3, 21, 9, 11)) * 4
    labels = rng.integers(0, 21, size=(3, 9, 11))
    labels[rng.random(labels.shape) < 0.2] = 255
    weights = rng.uniform(0.1, 5.0, 21)
    loss, cache = nn.softmax_cross_entropy_forward(scores, labels, class_weights=weights)
    ts = _t(scores)
    tloss = tF.cross_entropy(ts, torch.tensor(labels), weight=torch.tensor(weights), ignore_index=255,
                             reduction="mean")
    tloss.backward()
    assert abs(loss - tloss.item()) < 1e-12
    assert rel_error(nn.softmax_cross_entropy_backward(cache), ts.grad.numpy()) < 1e-12
