"""crf.learn: the loss and its gradient, learning that improves a CRF on synthetic data, and a
checkpointed run resumed bit for bit."""
import os

import numpy as np
import pytest
from conftest import MSRC_DIR, needs_msrc

from minideeplab._io import read_npz, save_npz
from minideeplab.crf import dense_crf, dense_crf_backward, dense_crf_forward
from minideeplab.crf.learn import crf_cross_entropy, crf_expected_error, learn_crf, score_params
from minideeplab.datasets import SyntheticScenes, noisy_probs
from minideeplab.nn import numerical_gradient, rel_error

L = 4
MU_TRUE = np.array([[0, 2.0, 0.0, 1.0], [2.0, 0, 1.0, 0.0], [0.0, 1.0, 0, 2.0], [1.0, 0.0, 2.0, 0]])
PARAMS = dict(n_iter=5, w_bilateral=3.0, theta_alpha=10.0, theta_beta=20.0, w_gaussian=3.0, theta_gamma=3.0)


def _samples(n=24, size=40):
    """Scenes, a noisy classifier's probabilities, and targets from a CRF with MU_TRUE."""
    ds = SyntheticScenes(n, (size, size), L, objects=(2, 4), seed=3)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        image, label = ds[i]
        P = noisy_probs(label, L, strength=0.3, noise=1.0, rng=rng, smooth=2.0, dtype=np.float32)
        out.append((image, P, dense_crf(image, P, compat=MU_TRUE, **PARAMS).argmax(0).astype(np.uint8)))
    return out


def test_cross_entropy_and_its_gradient(rng):
    Q = rng.dirichlet(np.ones(3), size=(4, 5)).transpose(2, 0, 1)
    label = rng.integers(0, 3, size=(4, 5))
    label[0, :2] = 255
    loss, dQ = crf_cross_entropy(Q, label)
    ys, xs = np.nonzero(label != 255)
    assert loss == pytest.approx(-np.mean(np.log(Q[label[ys, xs], ys, xs])), rel=1e-12)
    assert rel_error(dQ, numerical_gradient(lambda: crf_cross_entropy(Q, label)[0], Q, 1.0)) < 1e-7
    assert crf_cross_entropy(Q, np.full((4, 5), 255))[0] == 0.0


def test_class_weighted_cross_entropy_and_its_gradient(rng):
    """sum_i w_{y_i} (-log Q_i(y_i)) / sum_i w_{y_i}, written out pixel by pixel, and its
    numerical gradient; uniform weights give the plain loss."""
    Q = rng.dirichlet(np.full(3, 5.0), size=(4, 5)).transpose(2, 0, 1)  # away from 0: central differences hold
    label = rng.integers(0, 3, size=(4, 5))
    label[1, 1:3] = 255
    w = np.array([0.5, 2.0, 1.25])
    num = den = 0.0
    for y in range(4):
        for x in range(5):
            if label[y, x] != 255:
                num += w[label[y, x]] * -np.log(Q[label[y, x], y, x])
                den += w[label[y, x]]
    loss, dQ = crf_cross_entropy(Q, label, class_weights=w)
    assert loss == pytest.approx(num / den, rel=1e-12)
    f = lambda: crf_cross_entropy(Q, label, class_weights=w)[0]  # noqa: E731
    assert rel_error(dQ, numerical_gradient(f, Q, 1.0)) < 1e-7
    plain, dplain = crf_cross_entropy(Q, label)
    same, dsame = crf_cross_entropy(Q, label, class_weights=np.full(3, 7.0))
    assert same == pytest.approx(plain, rel=1e-12) and np.allclose(dsame, dplain, rtol=1e-12, atol=0)
    for bad in ([1.0, 2.0], [1.0, np.nan, 1.0], [1.0, -1.0, 1.0]):
        with pytest.raises(ValueError, match="class_weights"):
            crf_cross_entropy(Q, label, class_weights=bad)
    only0 = crf_cross_entropy(Q, label, class_weights=np.array([1.0, 0.0, 0.0]))[0]  # class 0's pixels alone
    keep = label == 0
    assert only0 == pytest.approx(-np.mean(np.log(Q[0][keep])), rel=1e-12)


def test_expected_error_and_its_gradient(rng):
    """1 - sum_i w_{y_i} Q_i(y_i) / sum_i w_{y_i}, written out pixel by pixel, and its numerical
    gradient; a confidently wrong pixel costs at most 1 (the cross-entropy's cost grows without
    bound), void pixels cost nothing, bad weights are refused."""
    Q = rng.dirichlet(np.ones(3), size=(4, 5)).transpose(2, 0, 1)
    label = rng.integers(0, 3, size=(4, 5))
    label[2, 3:] = 255
    for w in (None, np.array([0.5, 2.0, 1.25])):
        ww = np.ones(3) if w is None else w
        num = den = 0.0
        for y in range(4):
            for x in range(5):
                if label[y, x] != 255:
                    num += ww[label[y, x]] * Q[label[y, x], y, x]
                    den += ww[label[y, x]]
        loss, dQ = crf_expected_error(Q, label, class_weights=w)
        assert loss == pytest.approx(1 - num / den, rel=1e-12)
        f = lambda: crf_expected_error(Q, label, class_weights=w)[0]  # noqa: E731
        assert rel_error(dQ, numerical_gradient(f, Q, 1.0)) < 1e-7
    wrong = np.zeros((2, 1, 1))
    wrong[1] = 1.0  # all belief on class 1, the truth is 0
    assert crf_expected_error(wrong, np.zeros((1, 1), int))[0] == 1.0
    assert crf_cross_entropy(wrong, np.zeros((1, 1), int))[0] > 20
    assert crf_expected_error(Q, np.full((4, 5), 255)) == (0.0, pytest.approx(np.zeros_like(Q)))
    with pytest.raises(ValueError, match="class_weights"):
        crf_expected_error(Q, label, class_weights=[1.0, -1.0, 1.0])


@pytest.mark.parametrize("loss", [crf_cross_entropy, crf_expected_error])
def test_losses_refuse_bad_input(loss, rng):
    Q = rng.dirichlet(np.ones(3), size=(4, 5)).transpose(2, 0, 1)
    label = rng.integers(0, 3, size=(4, 5))
    nan = Q.copy()
    nan[1, 2, 3] = np.nan
    for q, y, error, message in ((Q, label[:3], ValueError, r"Q must be \(L, H, W\) and label \(H, W\)"),
                                 (Q[0], label, ValueError, r"Q must be \(L, H, W\)"),
                                 (nan, label, ValueError, "Q holds NaN"),
                                 (Q, label.astype(float), TypeError, "label must hold integer labels"),
                                 (Q, np.where(label == 0, 3, label), ValueError, r"label values must be in \[0, 3\) or 255, got 3"),
                                 (Q, np.where(label == 0, -1, label), ValueError, "got -1")):
        with pytest.raises(error, match=message):
            loss(q, y)


def test_learning_with_the_expected_error():
    """learn_crf(loss="expected_error") from a Potts CRF on a classifier with independent
    per-pixel errors (targets: the true scenes) raises the validation accuracy well above the
    start's, its recorded losses are expected errors in [0, 1] and fall, and an unknown loss is
    refused."""
    ds = SyntheticScenes(24, (40, 40), L, objects=(2, 4), seed=3)
    rng = np.random.default_rng(0)
    samples = [(image, noisy_probs(label, L, strength=1.0, noise=1.5, rng=rng, dtype=np.float32), label)
               for image, label in (ds[i] for i in range(24))]
    train, val = samples[:16], samples[16:]
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    res = learn_crf(train, L, val=val, steps=300, crop=40, lr=0.05, init=start, val_every=100, val_n_iters=(5,),
                    metric="global_acc", progress=False, loss="expected_error")
    losses = [h["loss"] for h in res["history"] if "loss" in h]
    assert all(0 <= v <= 1 for v in losses) and np.mean(losses[-50:]) < 0.8 * np.mean(losses[:50])
    # measured when written: unary 0.453, the Potts start 0.945, learned 0.994
    assert res["history"][0]["val_5"] < 0.95 and res["score"] > res["history"][0]["val_5"] + 0.03
    with pytest.raises(ValueError, match="loss must be one of cross_entropy, expected_error"):
        learn_crf(train, L, steps=1, loss="hinge", progress=False)


def test_moving_average_of_the_parameters(tmp_path):
    """average=d: the result is avg_t = d avg_{t-1} + (1 - d) p_t from avg_0 = the start, against
    the plain run's parameters step by step (averaging leaves the steps themselves alone), the
    validation checks score the average, a stopped run resumes bit for bit, bad decays are
    refused."""
    samples = _samples(6, 24)
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    kw = dict(steps=12, crop=16, lr=0.05, init=start, progress=False)
    path = str(tmp_path / "plain.npz")
    steps = [learn_crf(samples[:4], L, **kw, checkpoint=path, stop_after=1, resume=True) for _ in range(12)]
    mu, w1, w2 = 1 - np.eye(L), PARAMS["w_bilateral"], PARAMS["w_gaussian"]
    for r in steps:
        mu = 0.75 * mu + 0.25 * r["mu"]
        w1 = 0.75 * w1 + 0.25 * r["params"]["w_bilateral"]
        w2 = 0.75 * w2 + 0.25 * r["params"]["w_gaussian"]
    res = learn_crf(samples[:4], L, **kw, average=0.75)
    np.testing.assert_allclose(res["mu"], mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res["params"]["compat"], mu, rtol=1e-12, atol=1e-12)
    assert res["params"]["w_bilateral"] == pytest.approx(w1, rel=1e-12)
    assert res["params"]["w_gaussian"] == pytest.approx(w2, rel=1e-12)
    assert np.abs(res["mu"] - steps[-1]["mu"]).max() > 1e-3  # the average is not the last step
    checked = learn_crf(samples[:4], L, **kw, average=0.75, val=samples[4:], val_every=12, val_n_iters=(5,),
                        metric="global_acc")
    assert checked["history"][-1]["val_5"] == score_params(samples[4:], dict(res["params"], n_iter=5), L)["global_acc"]
    state = str(tmp_path / "avg.npz")
    learn_crf(samples[:4], L, **kw, average=0.75, checkpoint=state, checkpoint_every=2, stop_after=7)
    resumed = learn_crf(samples[:4], L, **kw, average=0.75, checkpoint=state, resume=True)
    np.testing.assert_array_equal(resumed["mu"], res["mu"])
    assert resumed["params"] == res["params"]
    for bad in (1.0, 0.0, True, "0.9", 2):
        with pytest.raises(ValueError, match="average must be None or a float in"):
            learn_crf(samples[:4], L, steps=1, average=bad, progress=False)
    with pytest.raises(TypeError, match="data_id must be None or a string"):
        learn_crf(samples[:4], L, steps=1, data_id=3, progress=False)


@pytest.mark.parametrize("loss", ["cross_entropy", "expected_error"])
def test_steps_on_a_batch_of_crops_use_their_mean_gradient(loss):
    """batch=B: each Adam step uses the mean gradient of B crops, plus the Potts prior's gradient
    once. Replays the crops from the seed, takes each one's gradient from ``dense_crf_backward``
    (not the layer learn_crf uses) and runs Adam by hand for three steps."""
    samples = _samples(5, 30)
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    lr, crop, B, T = 0.05, 16, 3, 3
    kw = dict(steps=T, crop=crop, lr=lr, init=start, seed=7, loss=loss, potts_prior=0.5, progress=False)
    res = learn_crf(samples, L, batch=B, **kw)
    rng = np.random.default_rng(7)
    p = {"w_bilateral": PARAMS["w_bilateral"], "w_gaussian": PARAMS["w_gaussian"], "compat": 1 - np.eye(L)}
    m, v = {k: 0.0 for k in p}, {k: 0.0 for k in p}
    for t in range(1, T + 1):
        g, losses = {k: 0.0 for k in p}, []
        for _ in range(B):
            image, probs, label = samples[int(rng.integers(len(samples)))]
            y, x = int(rng.integers(30 - crop + 1)), int(rng.integers(30 - crop + 1))
            window = np.s_[y:y + crop, x:x + crop]
            label, unary = label[window], -np.log(np.maximum(probs[(slice(None),) + window].astype(np.float64), 1e-5))
            Q, cache = dense_crf_forward(image[window], unary, **dict(PARAMS, **p))
            at = (label.ravel(), *np.unravel_index(np.arange(label.size), label.shape))
            q, dQ = Q[at], np.zeros_like(Q)
            losses.append(-np.log(q).mean() if loss == "cross_entropy" else 1 - q.mean())
            dQ[at] = -1 / (q * q.size) if loss == "cross_entropy" else -1 / q.size
            for k, gk in dense_crf_backward(dQ, cache).items():
                if k in g:
                    g[k] = g[k] + gk / B
        g["compat"] = g["compat"] + 0.5 * (p["compat"] - (1 - np.eye(L)))  # the prior, once a step
        for k in p:  # Adam, betas (0.9, 0.999), eps 1e-8
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
        assert res["history"][t - 1]["loss"] == pytest.approx(np.mean(losses), rel=1e-9)
    assert len(set(losses)) == B  # the crops differ
    np.testing.assert_allclose(res["mu"], p["compat"], rtol=0, atol=1e-8)
    for k in ("w_bilateral", "w_gaussian"):
        assert res["params"][k] == pytest.approx(p[k], abs=1e-8)
    one = learn_crf(samples, L, **kw)
    assert np.abs(one["mu"] - res["mu"]).max() > 1e-3  # one crop a step is another path


def test_potts_prior_keeps_mu_near_potts():
    """The prior lambda / 2 ||mu - Potts||^2 pulls the learned matrix towards Potts: a strong
    prior ends much nearer it than none, on the same data and crops."""
    samples = _samples(8, 32)
    kw = dict(val=None, steps=120, crop=32, lr=0.1, init={k: v for k, v in PARAMS.items() if k != "n_iter"},
              progress=False)
    potts = 1.0 - np.eye(L)
    free = np.abs(learn_crf(samples, L, **kw)["mu"] - potts).max()
    held = np.abs(learn_crf(samples, L, potts_prior=50.0, **kw)["mu"] - potts).max()
    assert free > 0.3 and held < 0.3 * free


def test_learning_improves_a_crf_that_starts_from_nothing():
    """From zero kernel weights (the CRF does nothing: the unary's agreement with the targets),
    learning the weights and mu raises the validation agreement most of the way to what the
    generating weights give with a Potts matrix, and the training loss falls."""
    samples = _samples()
    train, val = samples[:16], samples[16:]
    start = dict({k: v for k, v in PARAMS.items() if k != "n_iter"}, w_bilateral=0.0, w_gaussian=0.0)
    unary = score_params(val, dict(PARAMS, w_bilateral=0.0, w_gaussian=0.0), L)["global_acc"]
    res = learn_crf(train, L, val=val, steps=400, crop=40, lr=0.1, init=start, val_every=100, val_n_iters=(5,),
                    metric="global_acc", progress=False)
    losses = [h["loss"] for h in res["history"] if "loss" in h]  # the step-0 record has only val scores
    assert np.mean(losses[-50:]) < 0.85 * np.mean(losses[:50])
    # measured when written: unary 0.840, learned 0.878, Potts with the generating weights 0.882
    assert res["score"] > unary + 0.025
    assert res["params"]["w_bilateral"] > 0 and np.array(res["params"]["compat"]).shape == (L, L)


def test_fixed_parameters_keep_their_starting_values():
    samples = _samples(4, 24)
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    res = learn_crf(samples, L, steps=30, crop=24, lr=0.1, init=start, fixed=("w_bilateral", "w_gaussian"),
                    progress=False)
    assert res["params"]["w_bilateral"] == PARAMS["w_bilateral"] and res["params"]["w_gaussian"] == PARAMS["w_gaussian"]
    assert np.abs(res["mu"] - (1 - np.eye(L))).max() > 0.1  # mu did learn
    res = learn_crf(samples, L, steps=30, crop=24, lr=0.1, init=start, fixed="compat", progress=False)
    np.testing.assert_array_equal(res["mu"], 1 - np.eye(L))
    assert res["params"]["w_bilateral"] != PARAMS["w_bilateral"]


def test_learning_a_label_bias_undoes_a_classifier_biased_against_some_labels():
    """A classifier whose probabilities were scaled by exp(-B) (labels 1 and 3 under-predicted),
    the true scenes as targets: learn_bias finds a bias that ranks the labels as B does
    (centred: only differences count), raises the validation accuracy over the start's, and
    returns it in the params that dense_crf takes."""
    B = np.array([0.0, 1.5, 0.0, 1.0])
    ds = SyntheticScenes(24, (24, 24), L, objects=(2, 4), seed=4)
    rng = np.random.default_rng(1)
    samples = []
    for image, label in (ds[i] for i in range(24)):
        P = noisy_probs(label, L, strength=1.0, noise=1.0, rng=rng, dtype=np.float64) * np.exp(-B)[:, None, None]
        samples.append((image, (P / P.sum(0)).astype(np.float32), label))
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    kw = dict(val=samples[16:], steps=150, crop=24, lr=0.05, n_iter=2, init=start, val_every=50, val_n_iters=(2,),
              metric="class_avg_acc", progress=False, fixed=("w_bilateral", "w_gaussian", "compat"))
    res = learn_crf(samples[:16], L, learn_bias=True, **kw)
    bias = np.asarray(res["params"]["bias"])
    assert np.corrcoef(bias - bias.mean(), B - B.mean())[0, 1] > 0.9, bias
    assert res["score"] > res["history"][0]["val_2"] + 0.05  # measured when written: 0.486 -> 0.785
    np.testing.assert_allclose(score_params(samples[16:], res["params"], L)["class_avg_acc"], res["score"])
    assert "bias" not in learn_crf(samples[:16], L, **dict(kw, steps=1))["params"]
    with pytest.raises(TypeError, match="learn_bias must be True or False"):
        learn_crf(samples[:16], L, learn_bias="yes", **kw)


def test_per_kernel_learns_one_matrix_for_each_kernel():
    """per_kernel=True: a (2, L, L) pair from Potts, returned in params that dense_crf takes (the
    validation score reproduces); the two matrices move apart; with the Gaussian kernel's weight
    held at 0 its matrix gets no gradient and stays Potts (only the potts_prior, zero there,
    would move it), while the bilateral one learns."""
    samples = _samples(8, 32)
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    kw = dict(val=samples[6:], steps=40, crop=32, lr=0.1, init=start, val_every=20, val_n_iters=(5,),
              metric="global_acc", progress=False, per_kernel=True)
    res = learn_crf(samples[:6], L, **kw)
    pair = np.array(res["params"]["compat"])
    assert pair.shape == (2, L, L) and res["mu"].shape == (2, L, L)
    assert np.abs(res["mu"][0] - res["mu"][1]).max() > 0.05
    np.testing.assert_allclose(score_params(samples[6:], res["params"], L)["global_acc"], res["score"])
    off = learn_crf(samples[:6], L, **dict(kw, init=dict(start, w_gaussian=0.0), fixed=("w_gaussian",)))
    np.testing.assert_array_equal(off["mu"][1], 1 - np.eye(L))
    assert np.abs(off["mu"][0] - (1 - np.eye(L))).max() > 0.05
    assert np.array(learn_crf(samples[:6], L, **dict(kw, per_kernel=False))["params"]["compat"]).shape == (L, L)
    with pytest.raises(TypeError, match="per_kernel must be True or False"):
        learn_crf(samples[:6], L, **dict(kw, per_kernel=1))


def test_the_start_is_a_candidate_so_a_ruinous_step_is_not_returned():
    """The starting parameters are scored before the first step (record of step 0): with a
    learning rate that wrecks the CRF in one step, the start is returned."""
    samples = _samples(6, 24)
    start = {k: v for k, v in PARAMS.items() if k != "n_iter"}
    res = learn_crf(samples[:4], L, val=samples[4:], steps=1, crop=24, lr=50.0, init=start, val_every=1,
                    val_n_iters=(5,), metric="global_acc", progress=False)
    assert res["history"][0] == {"step": 0, "val_5": score_params(samples[4:], PARAMS, L)["global_acc"]}
    assert res["history"][1]["val_5"] < res["history"][0]["val_5"]  # the step did wreck it
    assert res["step"] == 0 and res["params"] == dict(start, n_iter=5, compat=(1 - np.eye(L)).tolist())


def test_checkpointed_run_resumes_bit_for_bit(tmp_path):
    samples = _samples(6, 24)
    kw = dict(val=samples[4:], steps=40, crop=16, lr=0.05, val_every=20, progress=False)
    whole = learn_crf(samples[:4], L, **kw)
    path = str(tmp_path / "state.npz")
    learn_crf(samples[:4], L, **kw, checkpoint=path, checkpoint_every=5, stop_after=23)  # stopped mid-way
    resumed = learn_crf(samples[:4], L, **kw, checkpoint=path, checkpoint_every=5, resume=True)
    np.testing.assert_array_equal(resumed["mu"], whole["mu"])
    assert resumed["history"] == whole["history"] and resumed["params"] == whole["params"]
    for other, message in ((dict(loss="expected_error"), "loss: 'cross_entropy', now 'expected_error'"),
                           (dict(data_id="folds b"), "data: None, now 'folds b'"),
                           (dict(lr=0.1), "lr: 0.05, now 0.1"),
                           (dict(batch=2), "batch: 1, now 2"),
                           (dict(learn_bias=True), "learn_bias: False, now True"),
                           (dict(per_kernel=True), "per_kernel: False, now True")):
        with pytest.raises(ValueError, match="was written with other settings") as err:
            learn_crf(samples[:4], L, **dict(kw, **other), checkpoint=path, resume=True)
        assert message in str(err.value)
    arrays, meta = read_npz(path)  # a state from before `batch`, `learn_bias`, `per_kernel`: one crop, no bias, one mu
    del meta["settings"]["batch"], meta["settings"]["learn_bias"], meta["settings"]["per_kernel"]
    older = str(tmp_path / "older.npz")
    save_npz(older, arrays, meta)
    again = learn_crf(samples[:4], L, **kw, checkpoint=older, resume=True)
    assert again["history"] == whole["history"] and again["params"] == whole["params"]
    biased = dict(kw, learn_bias=True, average=0.9, per_kernel=True)  # bias, pair and their averages: in the state
    whole_b = learn_crf(samples[:4], L, **biased)
    path_b = str(tmp_path / "state_bias.npz")
    learn_crf(samples[:4], L, **biased, checkpoint=path_b, checkpoint_every=5, stop_after=23)
    resumed_b = learn_crf(samples[:4], L, **biased, checkpoint=path_b, checkpoint_every=5, resume=True)
    assert resumed_b["history"] == whole_b["history"] and resumed_b["params"] == whole_b["params"]
    assert "bias" in whole_b["params"] and np.shape(whole_b["params"]["compat"]) == (2, L, L)
    longer = learn_crf(samples[:4], L, **dict(kw, steps=45), checkpoint=path, resume=True)  # more steps: allowed
    assert longer["history"][:len(whole["history"])] == whole["history"] and len(longer["history"]) > len(whole["history"])


@needs_msrc
@pytest.mark.slow
def test_learn_crf_command_stores_it_for_compare_and_segment(tmp_path, capsys):
    """learn-crf writes the learned CRF into the model file; compare-crf adds its row, segment
    --crf learned uses it (tiny settings: a smoke test of the wiring, not of the accuracy)."""
    import shutil

    from minideeplab.cli import main
    from minideeplab.models import MSRC_MODEL
    from minideeplab._io import read_npz_meta

    model = str(tmp_path / "m.npz")
    shutil.copy(MSRC_MODEL, model)
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--limit", "2", "--val-limit", "2",
                 "--steps", "4", "--val-every", "2", "--crop", "64", "--quiet"]) == 0
    learned = read_npz_meta(model)["learned_crf"]
    assert np.array(learned["params"]["compat"]).shape == (21, 21) and learned["steps"] == 4
    assert learned["loss"] == "cross-entropy"
    assert os.path.exists(str(tmp_path / "m.learn-crf.npz"))
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--limit", "2", "--val-limit", "2",
                 "--steps", "6", "--val-every", "2", "--crop", "64", "--quiet", "--resume", "--split", "val-half"]) == 2
    assert "was written with other settings (data: 'train (limit 2), val (limit 2)', now 'val-half (limit 2)" \
        in capsys.readouterr().err  # a state of other data is not continued
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--limit", "2", "--val-limit", "2",
                 "--steps", "6", "--val-every", "2", "--crop", "64", "--quiet", "--resume", "--loss", "expected-error"]) == 2
    assert "loss: 'cross_entropy', now 'expected_error'" in capsys.readouterr().err
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--limit", "2", "--val-limit", "2", "--steps", "2",
                 "--val-every", "2", "--crop", "64", "--quiet", "--loss", "expected-error",
                 "--checkpoint", str(tmp_path / "ee.npz"), "--average", "0.9"]) == 0
    assert read_npz_meta(model)["learned_crf"]["loss"] == "expected-error"
    assert read_npz_meta(model)["learned_crf"]["average"] == 0.9
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--steps", "2", "--average", "1.5"]) == 2
    assert "--average must be a decay in (0, 1), got 1.5" in capsys.readouterr().err
    out = str(tmp_path / "cmp")
    assert main(["compare-crf", "--model", model, "--data", MSRC_DIR, "--limit", "1", "--quiet", "--out", out]) == 0
    md = open(os.path.join(out, "results.md")).read()
    assert "| learned CRF |" in md and "learned - unary" in md
    image = os.path.join(MSRC_DIR, "Images", sorted(os.listdir(os.path.join(MSRC_DIR, "Images")))[0])
    assert main(["segment", image, "--model", model, "--crf", "learned", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["segment", image, "--crf", "learned", "-o", str(tmp_path / "t.png")]) == 2  # none shipped


@needs_msrc
def test_learn_crf_on_held_out_unaries_learns_and_picks_on_disjoint_halves_of_val(tmp_path, monkeypatch):
    """--split val-half: the learning images are val's even positions, the picking ones its odd;
    --class-weights and --potts-prior reach the learner (median frequency of the learning images)."""
    import shutil

    import minideeplab.crf.learn as learn_module
    from minideeplab.cli import main
    from minideeplab.datasets import MSRC
    from minideeplab.models import MSRC_MODEL

    seen = {}
    real = learn_module.learn_crf

    def spy(train, num_classes, *, val=None, **kw):
        seen["train"], seen["val"] = [r[2] for r in train], [r[2] for r in val]
        seen["class_weights"], seen["potts_prior"], seen["fixed"] = kw["class_weights"], kw["potts_prior"], kw["fixed"]
        return real(train, num_classes, val=val, **kw)

    monkeypatch.setattr(learn_module, "learn_crf", spy)
    model = str(tmp_path / "m.npz")
    shutil.copy(MSRC_MODEL, model)
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--split", "val-half", "--limit", "2",
                 "--val-limit", "2", "--steps", "2", "--val-every", "2", "--crop", "32", "--quiet",
                 "--class-weights", "median-frequency", "--potts-prior", "0.5", "--keep-weights"]) == 0
    ds = MSRC(MSRC_DIR, "val")
    for got, positions in ((seen["train"], (0, 2)), (seen["val"], (1, 3))):
        assert len(got) == 2 and all(np.array_equal(g, ds[i][1]) for g, i in zip(got, positions))
    from minideeplab.datasets.balance import median_frequency_weights

    np.testing.assert_array_equal(seen["class_weights"], median_frequency_weights(seen["train"], 21, absent=1.0))
    assert seen["potts_prior"] == 0.5 and seen["fixed"] == ("w_bilateral", "w_gaussian")


def _fold_nets(folder, holds):
    """Tiny untrained nets saved as ``folder/foldI/model.npz`` with ``--hold-out`` records ``holds``
    (None: no record; "missing": the folder without a model)."""
    from minideeplab.models import DeepLab, save_model

    for fold, hold in enumerate(holds):
        os.makedirs(os.path.join(folder, f"fold{fold}"))
        if hold == "missing":
            continue
        save_model(os.path.join(folder, f"fold{fold}", "model.npz"),
                   DeepLab("DeepLab-LargeFOV", 21, width=1 / 16, seed=fold),
                   train_config={"split": "train", "hold_out": hold} if hold else {})


@needs_msrc
def test_learn_crf_on_fold_nets_unaries(tmp_path, monkeypatch):
    """--folds DIR: training image i is scored by fold net i % K, at the model's test-time
    setting (the shipped model's three scales and mirror); validation keeps the model's unaries."""
    import shutil

    import minideeplab.crf.learn as learn_module
    from minideeplab.cli import main
    from minideeplab.datasets import MSRC
    from minideeplab.models import MSRC_MODEL, load_model
    from minideeplab.predict import predict_probs

    seen = {}
    real = learn_module.learn_crf

    def spy(train, num_classes, *, val=None, **kw):
        seen["train"], seen["val"] = train, val
        return real(train, num_classes, val=val, **kw)

    monkeypatch.setattr(learn_module, "learn_crf", spy)
    model = str(tmp_path / "m.npz")
    shutil.copy(MSRC_MODEL, model)
    _fold_nets(str(tmp_path / "folds"), ["0/2", "1/2"])
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--folds", str(tmp_path / "folds"), "--limit", "3",
                 "--val-limit", "1", "--steps", "2", "--val-every", "2", "--crop", "32", "--quiet"]) == 0
    shipped, _ = load_model(MSRC_MODEL)
    ds = MSRC(MSRC_DIR, "train")
    for i, (image, probs, label) in enumerate(seen["train"]):
        net, _ = load_model(tmp_path / "folds" / f"fold{i % 2}" / "model.npz")
        expected = predict_probs(net, ds[i][0], scale=shipped.input_scale, flip=shipped.test_flip)
        np.testing.assert_array_equal(probs, expected.astype(np.float16))
        assert np.array_equal(label, ds[i][1]) and np.array_equal(image, ds[i][0])
    own_setting = predict_probs(net, ds[2][0]).astype(np.float16)  # the fold net's own scale 1, no mirror
    assert not np.array_equal(seen["train"][2][1], own_setting)
    other, _ = load_model(tmp_path / "folds" / "fold0" / "model.npz")  # image 1 is not fold 0's
    assert not np.array_equal(seen["train"][1][1], predict_probs(other, ds[1][0], scale=shipped.input_scale,
                                                                 flip=shipped.test_flip).astype(np.float16))
    val_image = MSRC(MSRC_DIR, "val")[0][0]
    np.testing.assert_array_equal(seen["val"][0][1], predict_probs(shipped, val_image).astype(np.float16))
    assert load_model(model)[1]["learned_crf"]["folds"] == str(tmp_path / "folds")


@needs_msrc
@pytest.mark.parametrize("holds, extra, message", [
    (["0/2", "1/2"], ["--split", "val-half"], "--folds applies to --split train"),
    (["0/2", "0/2"], [], "fold1/model.npz was trained with --hold-out 0/2 on --split train, expected --hold-out 1/2"),
    (["0/2", None], [], "fold1/model.npz was trained without --hold-out"),
    (["0/1"], [], "at least two"),
    (["0/2", "missing"], [], "fold1/model.npz is missing (fold 1 of 2)"),
])
def test_learn_crf_folds_bad_input(tmp_path, capsys, holds, extra, message):
    import shutil

    from minideeplab.cli import main
    from minideeplab.models import MSRC_MODEL

    model = str(tmp_path / "m.npz")
    shutil.copy(MSRC_MODEL, model)
    _fold_nets(str(tmp_path / "folds"), holds)
    before = open(model, "rb").read()
    assert main(["learn-crf", "--model", model, "--data", MSRC_DIR, "--folds", str(tmp_path / "folds"), "--limit", "2",
                 "--steps", "2", "--quiet"] + extra) == 2
    assert message in capsys.readouterr().err
    assert open(model, "rb").read() == before  # nothing written


@pytest.mark.parametrize("bad", [dict(steps=0), dict(crop=-3), dict(val_every=0), dict(checkpoint_every=1.5),
                                 dict(stop_after=0), dict(metric="accuracy"), dict(potts_prior=-1.0),
                                 dict(potts_prior=float("nan")), dict(class_weights=[1.0, 2.0]),
                                 dict(class_weights=[1.0, -1.0, 1.0, 1.0]), dict(fixed=("w_bilateral", "mu")),
                                 dict(batch=0), dict(batch=-1), dict(batch=2.0), dict(batch=True),
                                 dict(batch="2")])
def test_learn_crf_bad_arguments(bad):
    samples = _samples(2, 16)
    with pytest.raises(ValueError, match=list(bad)[0]):
        learn_crf(samples, L, progress=False, **bad)
    with pytest.raises(ValueError, match="train is empty"):
        learn_crf([], L)


@needs_msrc
@pytest.mark.slow
def test_learn_crf_on_textonboost_unaries(tmp_path):
    """learn-crf takes a TextonBoost file too: the learned CRF is stored in it, in its own format,
    and compare-crf --unaries textonboost adds the learned row (tiny settings: the wiring)."""
    import shutil

    from minideeplab.cli import main
    from minideeplab.unaries.sources import TEXTONBOOST_MODEL, load_unaries
    from minideeplab.unaries.textonboost import TextonBoost

    path = str(tmp_path / "tb.npz")
    shutil.copy(TEXTONBOOST_MODEL, path)
    assert main(["learn-crf", "--model", path, "--data", MSRC_DIR, "--split", "val-half", "--limit", "1",
                 "--val-limit", "1", "--steps", "2", "--val-every", "2", "--crop", "32", "--quiet"]) == 0
    model, meta = load_unaries(path)
    assert isinstance(model, TextonBoost) and np.array(meta["learned_crf"]["params"]["compat"]).shape == (21, 21)
    assert meta["dense_crf"] == load_unaries(TEXTONBOOST_MODEL)[1]["dense_crf"]  # the cross-validated CRF kept
    out = str(tmp_path / "cmp")
    assert main(["compare-crf", "--unaries", "textonboost", "--textonboost", path, "--data", MSRC_DIR, "--limit", "1",
                 "--quiet", "--out", out]) == 0
    assert "| learned CRF |" in open(os.path.join(out, "results.md")).read()


@needs_msrc
def test_learn_crf_class_weight_power_and_batch(tmp_path, monkeypatch, capsys):
    """--class-weight-power P hands learn_crf the median-frequency weights of the learning
    images to the power P (recomputed here from the labels), --batch B its crops per step
    (recorded with the learned CRF), --learn-bias a learned bias (stored in its params),
    --per-kernel a (2, L, L) pair (stored, and used by compare-crf and segment --crf learned);
    the first two are refused where they mean nothing, before any unaries are computed."""
    from minideeplab._io import read_npz_meta
    import shutil

    from minideeplab.cli import main
    from minideeplab.crf import learn as learn_module
    from minideeplab.datasets import MSRC
    from minideeplab.datasets.balance import median_frequency_weights
    from minideeplab.models import MSRC_MODEL

    model = str(tmp_path / "m.npz")
    shutil.copy(MSRC_MODEL, model)
    seen, real = [], learn_module.learn_crf

    def spy(train, num_classes, **kw):
        seen.append((kw["class_weights"], kw["batch"], kw["learn_bias"], kw["per_kernel"]))
        return real(train, num_classes, **kw)

    monkeypatch.setattr(learn_module, "learn_crf", spy)
    base = ["learn-crf", "--model", model, "--data", MSRC_DIR, "--split", "val-half", "--limit", "3", "--val-limit",
            "1", "--steps", "1", "--crop", "32", "--quiet"]
    assert main(base + ["--class-weights", "median-frequency", "--class-weight-power", "3", "--batch", "2",
                        "--learn-bias", "--per-kernel"]) == 0
    stored = read_npz_meta(model)["learned_crf"]
    assert seen[0][1] == 2 and stored["batch"] == 2
    assert seen[0][2] is True and stored["learn_bias"] is True and len(stored["params"]["bias"]) == 21
    assert seen[0][3] is True and stored["per_kernel"] is True and np.shape(stored["params"]["compat"]) == (2, 21, 21)
    image = os.path.join(MSRC_DIR, "Images", sorted(os.listdir(os.path.join(MSRC_DIR, "Images")))[0])
    assert main(["segment", image, "--model", model, "--crf", "learned", "-o", str(tmp_path / "s.png")]) == 0
    out = str(tmp_path / "cmp")
    assert main(["compare-crf", "--model", model, "--data", MSRC_DIR, "--limit", "1", "--quiet", "--out", out]) == 0
    assert "| learned CRF |" in open(os.path.join(out, "results.md")).read()
    ds = MSRC(MSRC_DIR, "val")  # val-half learns on val's images 0, 2, 4, ...
    mf = median_frequency_weights([ds[0][1], ds[2][1], ds[4][1]], 21, absent=1.0)
    np.testing.assert_allclose(seen[0][0], mf ** 3, rtol=1e-12)
    assert not np.allclose(mf ** 3, mf)  # the power did something
    monkeypatch.setattr(learn_module, "learn_crf", lambda *a, **k: pytest.fail("learned despite a bad power"))
    for extra, message in ((["--class-weight-power", "2"], "--class-weight-power applies to --class-weights "
                                                           "median-frequency"),
                           (["--class-weights", "median-frequency", "--class-weight-power", "0"],
                            "--class-weight-power must be a finite number > 0, got 0.0"),
                           (["--class-weights", "median-frequency", "--class-weight-power", "nan"],
                            "--class-weight-power must be a finite number > 0, got nan"),
                           (["--batch", "0"], "--batch must be a positive number of crops, got 0")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
