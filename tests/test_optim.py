from collections import OrderedDict

import numpy as np
import pytest

from minideeplab._numba import get_num_threads
from minideeplab.optim import SGD, Adam, deeplab_multipliers, make_schedule, poly_lr, step_lr


def test_sgd_matches_caffe_update_by_hand():
    w = {"a.weight": np.array([1.0, -2.0]), "a.bias": np.array([0.5])}
    lr_mult, decay_mult = deeplab_multipliers(w)
    opt = SGD(w, lr=0.1, momentum=0.9, weight_decay=0.01, lr_mult=lr_mult, decay_mult=decay_mult)
    g = {"a.weight": np.array([0.2, 0.4]), "a.bias": np.array([1.0])}
    # by hand, Caffe: v = m v + lr * mult * (g + wd * w); w -= v
    v_w = 0.1 * 1 * (np.array([0.2, 0.4]) + 0.01 * np.array([1.0, -2.0]))
    v_b = 0.1 * 2 * np.array([1.0])  # bias: x2 lr, no decay
    opt.step(g)
    assert np.allclose(w["a.weight"], [1.0, -2.0] - v_w) and np.allclose(w["a.bias"], 0.5 - v_b)
    w_before = w["a.weight"].copy()
    opt.step(g, lr=0.05)
    v_w2 = 0.9 * v_w + 0.05 * (np.array([0.2, 0.4]) + 0.01 * w_before)
    assert np.allclose(w["a.weight"], w_before - v_w2)


def test_sgd_equals_torch_while_lr_is_constant():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    w = {"p": w0.copy()}
    opt = SGD(w, lr=0.01, momentum=0.9, weight_decay=5e-4)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.01, momentum=0.9, weight_decay=5e-4)
    for _ in range(5):
        g = rng.standard_normal(5)
        opt.step({"p": g})
        tw.grad = torch.tensor(g)
        topt.step()
    assert np.allclose(w["p"], tw.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_deeplab_multipliers():
    lr, dec = deeplab_multipliers(["conv1_1.weight", "conv1_1.bias", "fc8.weight", "fc8.bias", "msc3_score.bias"])
    assert lr == {"conv1_1.weight": 1, "conv1_1.bias": 2, "fc8.weight": 10, "fc8.bias": 20, "msc3_score.bias": 20}
    assert dec == {"conv1_1.weight": 1, "conv1_1.bias": 0, "fc8.weight": 1, "fc8.bias": 0, "msc3_score.bias": 0}


def test_schedules():
    assert step_lr(1e-3, 1999, 2000) == 1e-3 and np.isclose(step_lr(1e-3, 2000, 2000), 1e-4)
    assert np.isclose(step_lr(1e-3, 4500, 2000), 1e-5)
    assert poly_lr(1e-3, 0, 100) == 1e-3 and poly_lr(1e-3, 100, 100) == 0.0
    assert np.isclose(poly_lr(1e-3, 50, 100), 1e-3 * 0.5**0.9)
    f = make_schedule("poly", 0.01, max_iter=10)
    assert np.isclose(f(5), 0.01 * 0.5**0.9)
    with pytest.raises(ValueError, match="max_iter"):
        make_schedule("poly", 0.01)
    with pytest.raises(ValueError, match="policy"):
        make_schedule("cosine", 0.01, max_iter=3)


def test_bad_sgd_arguments():
    with pytest.raises(ValueError, match="lr"):
        SGD({"p": np.zeros(1)}, lr=-1)
    with pytest.raises(ValueError, match="momentum"):
        SGD({"p": np.zeros(1)}, momentum=1.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        SGD({"p": np.zeros(1)}, lr_mult={"q": 2.0})
    with pytest.raises(KeyError, match="no gradient"):
        SGD({"p": np.zeros(1)}).step({})


def test_adam_by_hand_one_step():
    # the first bias-corrected step is lr * g / (|g| + eps') = lr * sign(g) (eps tiny)
    w = {"a.weight": np.array([1.0, -2.0, 0.0])}
    opt = Adam(w, lr=0.1, eps=1e-12)
    opt.step({"a.weight": np.array([3.0, -0.5, 0.0])})
    assert np.allclose(w["a.weight"], [0.9, -1.9, 0.0], rtol=0, atol=1e-10)


def test_adam_equals_torch_with_weight_decay_and_lr_changes():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(7)
    w = {"p": w0.copy()}
    opt = Adam(w, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)
    tw = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.Adam([tw], lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)
    for it in range(8):
        lr = 1e-2 * (1 - it / 8) ** 0.9
        g = rng.standard_normal(7)
        opt.step({"p": g}, lr=lr)
        for group in topt.param_groups:
            group["lr"] = lr
        tw.grad = torch.tensor(g)
        topt.step()
    assert np.allclose(w["p"], tw.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_adam_multipliers_and_state_roundtrip():
    w = {"a.weight": np.ones(3), "a.bias": np.ones(2)}
    lr_mult, decay_mult = deeplab_multipliers(w)
    opt = Adam(w, lr=0.1, weight_decay=0.5, lr_mult=lr_mult, decay_mult=decay_mult, eps=1e-12)
    opt.step({"a.weight": np.ones(3), "a.bias": np.ones(2)})
    assert np.allclose(w["a.weight"], 0.9) and np.allclose(w["a.bias"], 0.8)  # bias: x2 lr
    w2 = {k: v.copy() for k, v in w.items()}
    opt2 = Adam(w2, lr=0.1, weight_decay=0.5, lr_mult=lr_mult, decay_mult=decay_mult, eps=1e-12)
    opt2.load_state_dict(opt.state_dict())
    g = {"a.weight": np.array([0.3, -1.0, 2.0]), "a.bias": np.array([-0.2, 0.1])}
    opt.step(g)
    opt2.step(g)
    for k in w:
        assert np.array_equal(w[k], w2[k])


def test_bad_adam_arguments():
    w = {"p": np.zeros(2)}
    with pytest.raises(ValueError, match="betas"):
        Adam(w, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps"):
        Adam(w, eps=0)
    with pytest.raises(ValueError, match="lr"):
        Adam(w, lr=-1)
    with pytest.raises(ValueError, match="unknown parameter"):
        Adam(w, lr_mult={"q": 1.0})


# ---------------------------------------------------------------- the fused kernels and their twins
def _awkward_params(dtype, rng):
    """Parameters whose updates meet every edge: subnormal results, NaN, infinities, -0.0, a
    parameter large enough for the threads, one without decay, one with a non-contiguous gradient."""
    big = rng.standard_normal(3_000).astype(dtype)  # above _FUSED_MIN_SPLIT (set to 1,000): split
    edge = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-40, 3e-38, 1e-300, 1.0], dtype)
    tiny_decay = rng.standard_normal((6, 5)).astype(dtype)
    tiny_decay[0, 0], tiny_decay[1, 1] = np.inf, -np.inf  # 0 * inf: where "decay" is tested, NaN
    return OrderedDict([("a.weight", big), ("a.bias", rng.standard_normal(7).astype(dtype)),
                        ("b.weight", edge), ("c.weight", tiny_decay)])


def _awkward_grads(params, rng, it):
    g = OrderedDict((k, (rng.standard_normal(v.shape) * 10.0 ** rng.integers(-45, 1, v.shape)).astype(v.dtype))
                    for k, v in params.items())
    g["c.weight"] = np.ascontiguousarray(g["c.weight"].T).T  # a transposed view, as the conv's dw
    g["b.weight"][1 + it % 9] = [np.nan, np.inf, -0.0, 1e-39][it % 4]
    g["b.weight"][0] = -np.finfo(g["b.weight"].dtype).tiny  # lr * -tiny: a subnormal step, flushed to +0.0
    return g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_fused_update_is_the_same_bits_as_its_numpy_twin(kind, dtype, monkeypatch):
    import minideeplab._optim_kernels as kernels
    import minideeplab.optim as optim

    monkeypatch.setattr(optim, "_FUSED_MIN_SPLIT", 1_000)
    calls = []
    name = "sgd_range" if kind == "sgd" else "adam_range"
    real = getattr(kernels, name)
    monkeypatch.setattr(kernels, name, lambda *a: calls.append(a[-1] - a[-2]) or real(*a))  # i1 - i0
    rng = np.random.default_rng(3)
    p_fused = _awkward_params(dtype, rng)
    p_twin = OrderedDict((k, v.copy()) for k, v in p_fused.items())
    lr_mult, decay_mult = deeplab_multipliers(p_fused)
    decay_mult["c.weight"] = 1e-300  # a decay that is 0 in float32 but not in Python (the twin adds 0 * w)
    decay_mult["b.weight"] = 0.0  # so that its gradient's subnormal steps stay subnormal
    make = SGD if kind == "sgd" else Adam
    kw = dict(weight_decay=5e-2, lr_mult=lr_mult, decay_mult=decay_mult)
    if kind == "sgd":
        kw["momentum"] = 0.9
    opts = [make(p_fused, 0.05, **kw), make(p_twin, 0.05, fused=False, **kw)]
    with np.errstate(all="ignore"):
        for it in range(6):
            g = _awkward_grads(p_fused, rng, it)
            for opt in opts:
                opt.step(g, lr=0.05 * (1 - it / 6))
    assert sum(calls) == 6 * sum(v.size for v in p_fused.values())  # every entry went through the kernel
    assert len(calls) > 6 * len(p_fused) or get_num_threads() < 2  # ... the large one in parts, on the threads
    for k in p_fused:
        np.testing.assert_array_equal(p_fused[k].view(np.uint8), p_twin[k].view(np.uint8), err_msg=k)
    for (k, a), b in zip(opts[0].state_dict().items(), opts[1].state_dict().values()):
        np.testing.assert_array_equal(np.reshape(a, -1).view(np.uint8), np.reshape(b, -1).view(np.uint8),
                                      err_msg=k)
    # the edges were met: NaN, and a subnormal step (SGD's v, Adam's m) that the flush keeps at +0.0
    edge = (opts[0].velocity if kind == "sgd" else opts[0].m)["b.weight"]
    assert np.isnan(p_fused["b.weight"]).any() and edge[0] == 0 and not np.signbit(edge[0])
    assert dtype == np.float64 or np.isnan(p_fused["c.weight"][0, 0])  # float32: NaN only from 0 * inf


def test_fused_update_leaves_mixed_dtypes_to_the_twin(monkeypatch):
    import minideeplab._optim_kernels as kernels

    monkeypatch.setattr(kernels, "sgd_range", lambda *a: pytest.fail("the kernel ran on a float64 gradient"))
    w = {"p": np.ones(4, np.float32)}
    SGD(w, 0.1).step({"p": np.full(4, 0.5)})  # float64 gradient of a float32 parameter
    assert w["p"].dtype == np.float32 and np.allclose(w["p"], 1 - 0.1 * (0.5 + 5e-4))


@pytest.mark.parametrize("make", [SGD, Adam])
def test_fused_must_be_a_bool(make):
    with pytest.raises(TypeError, match="fused"):
        make({"p": np.zeros(2)}, fused=1)
