import numpy as np
import pytest

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
