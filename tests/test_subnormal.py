"""Subnormal numbers flushed to zero: the kernel against its readable twin, the optimizers
keeping weights and state out of the subnormal range, and model loading."""
import numpy as np
import pytest

from minideeplab.models import DeepLab
from minideeplab.optim import SGD, Adam
from minideeplab.subnormal import flush_subnormals, flush_subnormals_reference


def _mixed(rng, n, dtype):
    """Normal numbers, subnormals of both signs, zeros of both signs, NaN and infinities."""
    tiny = np.finfo(dtype).tiny
    a = rng.standard_normal(n).astype(dtype)
    pick = rng.integers(0, 6, n)
    a[pick == 1] = (rng.uniform(0.001, 0.999, (pick == 1).sum()) * tiny).astype(dtype)  # subnormal
    a[pick == 2] = -(rng.uniform(0.001, 0.999, (pick == 2).sum()) * tiny).astype(dtype)
    a[pick == 3] = tiny  # the smallest normal number: kept
    a[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [70, 40000])  # 40000: split over the threads
def test_flush_kernel_matches_the_twin(dtype, n, rng):
    a = _mixed(rng, n, dtype)
    subnormal = (a != 0) & (np.abs(a) < np.finfo(dtype).tiny)
    assert subnormal.sum() > n // 10
    want = flush_subnormals_reference(a.copy())
    got = flush_subnormals(a.copy().reshape(-1, 1))
    np.testing.assert_array_equal(got.ravel(), want)  # NaN where the twin has NaN
    assert not ((got != 0) & (np.abs(got) < np.finfo(dtype).tiny)).any()
    np.testing.assert_array_equal(got.ravel()[~subnormal], a[~subnormal])  # everything else untouched
    assert got.dtype == dtype


def test_flush_strided_views_and_bad_input(rng):
    base = _mixed(rng, 600, np.float32).reshape(20, 30)
    view = base[:, ::2]  # not contiguous: the twin, in place through the view
    want = flush_subnormals_reference(base.copy())
    flush_subnormals(view)
    np.testing.assert_array_equal(base[:, ::2], want[:, ::2])
    assert (base[:, 1::2][np.abs(base[:, 1::2]) < np.finfo(np.float32).tiny] != 0).any()  # the rest untouched
    for bad in (np.arange(5), [1.0, 2.0], "x", np.float32(1e-40)):
        with pytest.raises(TypeError, match="a must be a floating-point array"):
            flush_subnormals(bad)
    frozen = np.full(3, 1e-40, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="a must be writeable"):
        flush_subnormals(frozen)
    half = np.array([3e-5, 1e-7, 1.0], np.float16)  # float16's subnormals are values weights hold
    np.testing.assert_array_equal(flush_subnormals(half.copy()), half)
    zero_d = np.array(1e-40, np.float32)  # a 0-d parameter (nn.DenseCRF's kernel weights)
    assert flush_subnormals(zero_d) is zero_d and zero_d == 0


def _run(name, w, grads, fused=True):
    params = {"w": w.copy()}
    make = (lambda p: SGD(p, lr=1.0, momentum=0.5, weight_decay=0.5, fused=fused)) if name == "sgd" else \
        (lambda p: Adam(p, lr=1e-3, fused=fused))
    opt = make(params)
    states = []
    for g in grads:
        opt.step({"w": g})
        state = [opt.velocity["w"]] if name == "sgd" else [opt.m["w"], opt.v["w"]]
        states.append([params["w"].copy()] + [a.copy() for a in state])
    return states


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizers_keep_weights_and_state_out_of_the_subnormal_range(name, fused, rng, monkeypatch):
    """Half the weights learn; the other half get no gradient and decay (SGD: weight decay 0.5
    at lr 1), or (Adam) gradients of 1e-20 (their squares are subnormal) and 1e-37 (their first
    moment is). After every step no weight and no state entry is subnormal, the learning half
    takes exactly the update it takes without the flush, and without the flush each array of the
    other half (SGD: weights and velocity; Adam: both moments) does go subnormal. Both the fused
    kernels and their NumPy twins; "without the flush" is the twin with ``flush_subnormals``
    replaced (the kernels flush inside)."""
    from minideeplab import optim

    tiny = np.finfo(np.float32).tiny
    w = np.concatenate([rng.standard_normal(100), rng.uniform(1, 2, 100) * 1e-36]).astype(np.float32)
    grads = []
    for _ in range(20):
        g = np.zeros_like(w)
        g[:100] = rng.standard_normal(100)
        g[100:] = 0.0 if name == "sgd" else 1e-20
        g[150:] = 0.0 if name == "sgd" else 5e-38
        grads.append(g)
    ours = _run(name, w, grads, fused)
    monkeypatch.setattr(optim, "flush_subnormals", lambda a: a)
    with np.errstate(under="ignore"):
        plain = _run(name, w, grads, fused=False)
    subnormal = lambda a: (a != 0) & (np.abs(a) < tiny)  # noqa: E731
    for step, (mine, theirs) in enumerate(zip(ours, plain)):
        assert not any(subnormal(a).any() for a in mine), step
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a[:100], b[:100])
    for k in range(len(plain[0])) if name == "sgd" else (1, 2):  # Adam's weights move by about lr
        assert max(subnormal(states[k][100:]).sum() for states in plain) >= 20, k


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_an_update_that_lands_in_the_subnormal_range_leaves_zero(name):
    """lr 5e-39 and unit gradients from zero weights: every update is subnormal in float32."""
    for momentum in (0.0, 0.9):
        params = {"w": np.zeros(8, np.float32)}
        opt = SGD(params, lr=5e-39, momentum=momentum, weight_decay=0.0) if name == "sgd" else Adam(params, lr=5e-39)
        opt.step({"w": np.ones(8, np.float32)})
        np.testing.assert_array_equal(params["w"], 0.0)


def test_loading_flushes_subnormal_weights(rng):
    m = DeepLab("DeepLab-LargeFOV", 3, width=1 / 16, seed=0)
    state = {k: v.copy() for k, v in m.params.items()}
    tiny = np.finfo(np.float32).tiny
    state["fc7.weight"].ravel()[::3] = tiny / 7
    state["fc7.weight"].ravel()[1] = -tiny / 3
    m.load_state_dict(state)
    w = m.params["fc7.weight"]
    assert (w.ravel()[::3] == 0).all() and w.ravel()[1] == 0
    np.testing.assert_array_equal(w.ravel()[2::3], state["fc7.weight"].ravel()[2::3])
