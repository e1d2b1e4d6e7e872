"""Mean field unrolled (crf.unrolled): the same Q as dense_crf, and float64 numerical gradients of
Q with respect to the unary, both kernel weights and the compatibility matrix, for both methods."""
import numpy as np
import pytest

from minideeplab.crf import dense_crf
from minideeplab.crf.unrolled import dense_crf_backward, dense_crf_forward
from minideeplab.nn import rel_error


def _scene(rng, H=6, W=5, L=3):
    image = rng.integers(0, 256, size=(H, W, 3)).astype(np.uint8)
    unary = rng.standard_normal((L, H, W)) * 1.5
    return image, unary


def _numerical(f, x, h, one_sided=()):
    """d f / d x by central differences (x float64, changed in place and restored); at the flat
    indices in ``one_sided`` (a weight at 0, which may not go negative) by the second-order
    one-sided difference (-3 f(x) + 4 f(x + h) - f(x + 2h)) / 2h."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        if i in one_sided:
            f0 = f()
            flat[i] = old + h
            f1 = f()
            flat[i] = old + 2 * h
            f2 = f()
            gflat[i] = (-3 * f0 + 4 * f1 - f2) / (2 * h)
        else:
            flat[i] = old + h
            plus = f()
            flat[i] = old - h
            minus = f()
            gflat[i] = (plus - minus) / (2 * h)
        flat[i] = old
    return g


# the lattice computes its filter in float32: its finite differences take a larger step
TOLERANCE = {"exact": (1e-6, 1e-6), "lattice": (1e-3, 2e-3)}  # (step h, relative error)


@pytest.mark.parametrize("method", ["exact", "lattice"])
@pytest.mark.parametrize("n_iter", [0, 1, 5])
@pytest.mark.parametrize("w_gaussian", [0.0, 3.0])
@pytest.mark.parametrize("potts", [True, False, "per kernel"])
@pytest.mark.parametrize("normalization", ["symmetric", "before"])  # "before": K is not symmetric
def test_gradients_match_finite_differences(method, n_iter, w_gaussian, potts, normalization, rng):
    image, unary = _scene(rng)
    L = unary.shape[0]
    mu = (np.array(1.0 - np.eye(L)) if potts is True else
          rng.uniform(-0.5, 1.5, (2, L, L) if potts == "per kernel" else (L, L)))  # per kernel: bilateral, Gaussian
    params = dict(n_iter=n_iter, theta_alpha=4.0, theta_beta=40.0, theta_gamma=2.0, method=method,
                  normalization=normalization)
    w = np.array([1.5, w_gaussian])
    dQ = rng.standard_normal(unary.shape)
    compat = lambda: "potts" if potts is True else mu

    def loss():
        Q, _ = dense_crf_forward(image, unary, w_bilateral=w[0], w_gaussian=w[1], compat=compat(), **params)
        return float(np.sum(Q * dQ))

    Q, cache = dense_crf_forward(image, unary, w_bilateral=w[0], w_gaussian=w[1], compat=compat(), **params)
    grads = dense_crf_backward(dQ, cache)
    h, tol = TOLERANCE[method]
    assert rel_error(grads["unary"], _numerical(loss, unary, h)) < tol
    if n_iter == 0:
        assert grads["w_bilateral"] == grads["w_gaussian"] == 0.0 and not grads["compat"].any()
        return
    dw = _numerical(loss, w, h, one_sided=(1,) if w_gaussian == 0 else ())
    assert rel_error(np.array([grads["w_bilateral"], grads["w_gaussian"]]), dw) < tol
    # compat: the gradient with respect to the full matrix (for Potts at 1 - I), or to both
    compat = lambda: mu
    assert grads["compat"].shape == mu.shape
    numeric = _numerical(loss, mu, h)
    assert rel_error(grads["compat"], numeric) < tol
    if potts == "per kernel" and w_gaussian == 0:  # the Gaussian kernel's matrix does nothing
        assert not grads["compat"][1].any() and np.abs(numeric[1]).max() < 1e-9


@pytest.mark.parametrize("method", ["exact", "lattice"])
def test_forward_is_dense_crf(method, rng):
    image, _ = _scene(rng, 9, 8, 4)
    probs = rng.dirichlet(np.ones(4), size=(9, 8)).transpose(2, 0, 1)
    unary = -np.log(np.maximum(probs, 1e-5))
    mu = rng.uniform(0, 2, (4, 4))
    for compat in ("potts", mu, rng.uniform(0, 2, (2, 4, 4))):
        Q, _ = dense_crf_forward(image, unary.astype(np.float32), n_iter=5, compat=compat, method=method)
        assert Q.dtype == np.float32
        np.testing.assert_allclose(Q, dense_crf(image, probs, n_iter=5, compat=compat, method=method), atol=1e-5)


def test_float64_in_float64_out_and_bad_input(rng):
    image, unary = _scene(rng)
    Q, cache = dense_crf_forward(image, unary, method="exact")
    assert Q.dtype == np.float64
    np.testing.assert_allclose(Q.sum(axis=0), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="dQ must be"):
        dense_crf_backward(np.ones((2, 6, 5)), cache)
    with pytest.raises(ValueError, match="unary must be"):
        dense_crf_forward(image, unary[:, :3], method="exact")
    with pytest.raises(ValueError, match="NaN"):
        dense_crf_forward(image, np.full_like(unary, np.nan), method="exact")
    with pytest.raises(TypeError, match="floating"):
        dense_crf_forward(image, unary.astype(int), method="exact")


def test_dense_crf_layer(rng):
    """nn.DenseCRF: dense_crf on softmax(scores) image by image; its gradients are the functional
    pair's, summed over the batch, and dscores = -dunary; an optimizer can step its params."""
    from minideeplab import nn
    from minideeplab.optim import Adam

    images = rng.integers(0, 256, size=(2, 6, 5, 3)).astype(np.uint8)
    scores = rng.standard_normal((2, 3, 6, 5))
    layer = nn.DenseCRF(3, n_iter=3, theta_alpha=4.0, theta_beta=40.0, theta_gamma=2.0, method="exact")
    Q = layer.forward(scores, images)
    for n in range(2):
        P = np.exp(scores[n]) / np.exp(scores[n]).sum(axis=0)
        want = dense_crf(images[n], P, n_iter=3, w_bilateral=4.0, theta_alpha=4.0, theta_beta=40.0, w_gaussian=3.0,
                         theta_gamma=2.0, method="exact")
        np.testing.assert_allclose(Q[n], want, atol=1e-5)
    dQ = rng.standard_normal(Q.shape)
    dscores = layer.backward(dQ)
    total = {"w_bilateral": 0.0, "w_gaussian": 0.0, "compat": 0.0}
    for n in range(2):
        _, cache = dense_crf_forward(images[n], -scores[n], n_iter=3, w_bilateral=4.0, w_gaussian=3.0, theta_alpha=4.0,
                                     theta_beta=40.0, theta_gamma=2.0, method="exact")
        g = dense_crf_backward(dQ[n], cache)
        np.testing.assert_allclose(dscores[n], -g["unary"], rtol=1e-12)
        for k in total:
            total[k] = total[k] + g[k]
    for k in total:
        np.testing.assert_allclose(layer.grads[k], total[k], rtol=1e-12)
    Adam(layer.params, 1e-2).step(layer.grads)
    assert not np.allclose(layer.params["compat"], 1 - np.eye(3))
    with pytest.raises(ValueError, match="scores must be"):
        layer.forward(scores, images[:1])


def test_dense_crf_layer_with_a_matrix_per_kernel(rng):
    """nn.DenseCRF(compat=(2, L, L)): dense_crf with that pair on softmax(scores); the pair's
    gradient is the functional pair's, summed over the batch."""
    from minideeplab import nn

    images = rng.integers(0, 256, size=(2, 6, 5, 3)).astype(np.uint8)
    scores = rng.standard_normal((2, 3, 6, 5))
    pair = rng.uniform(-0.5, 1.5, (2, 3, 3))
    kw = dict(n_iter=3, theta_alpha=4.0, theta_beta=40.0, theta_gamma=2.0, method="exact")
    layer = nn.DenseCRF(3, compat=pair, **kw)
    Q = layer.forward(scores, images)
    dQ = rng.standard_normal(Q.shape)
    layer.backward(dQ)
    total = np.zeros((2, 3, 3))
    for n in range(2):
        P = np.exp(scores[n]) / np.exp(scores[n]).sum(axis=0)
        np.testing.assert_allclose(Q[n], dense_crf(images[n], P, compat=pair, **kw), atol=1e-5)
        _, cache = dense_crf_forward(images[n], -scores[n], compat=pair, **kw)
        total += dense_crf_backward(dQ[n], cache)["compat"]
    np.testing.assert_allclose(layer.grads["compat"], total, rtol=1e-12)
    with pytest.raises(ValueError, match=r"compat must be 'potts', an \(3, 3\) array or a \(2, 3, 3\) pair"):
        nn.DenseCRF(3, compat=np.zeros((3, 3, 3)))


def test_dense_crf_layer_bias(rng):
    """nn.DenseCRF(bias=b): dense_crf(bias=b) on softmax(scores); the bias's gradient against
    float64 central differences of sum(dQ * Q); without ``bias`` the layer has no such parameter."""
    from minideeplab import nn

    images = rng.integers(0, 256, size=(2, 6, 5, 3)).astype(np.uint8)
    scores = rng.standard_normal((2, 3, 6, 5))
    b = np.array([0.4, -0.7, 0.2])
    kw = dict(n_iter=3, theta_alpha=4.0, theta_beta=40.0, theta_gamma=2.0, method="exact")
    assert "bias" not in nn.DenseCRF(3, **kw).params
    layer = nn.DenseCRF(3, compat=1 - np.eye(3) + 0.3 * rng.standard_normal((3, 3)), bias=b, **kw)
    Q = layer.forward(scores, images)
    for n in range(2):
        P = np.exp(scores[n]) / np.exp(scores[n]).sum(axis=0)
        want = dense_crf(images[n], P, w_bilateral=4.0, w_gaussian=3.0, compat=layer.params["compat"], bias=b, **kw)
        np.testing.assert_allclose(Q[n], want, atol=1e-5)
    dQ = rng.standard_normal(Q.shape)
    dscores = layer.backward(dQ)
    np.testing.assert_allclose(layer.grads["bias"], dscores.sum(axis=(0, 2, 3)), rtol=1e-12)
    numeric = np.zeros(3)
    for c in range(3):
        f = []
        for h in (1e-6, -1e-6):
            layer.params["bias"][c] = b[c] + h
            f.append((dQ * layer.forward(scores, images)).sum())
        layer.params["bias"][c] = b[c]
        numeric[c] = (f[0] - f[1]) / 2e-6
    np.testing.assert_allclose(layer.grads["bias"], numeric, rtol=1e-6)
    with pytest.raises(ValueError, match="bias must be"):
        nn.DenseCRF(3, bias=[0.0, 1.0])
    with pytest.raises(TypeError, match="bias must be"):
        nn.DenseCRF(3, bias="x")


MU_TRUE = np.array([[0.0, 2.0, 0.5], [1.0, 0.0, 2.5], [0.0, 1.5, 0.0]])  # asymmetric on purpose
RECOVERY = dict(n_iter=3, w_bilateral=1.0, theta_alpha=3.0, theta_beta=30.0, w_gaussian=1.0, theta_gamma=1.5)


def _column_centred(mu):
    return mu - mu.mean(axis=0, keepdims=True)


def test_compat_is_identifiable_only_up_to_a_constant_per_column(rng):
    """E_i(l) = -U_i(l) - sum_m w_m sum_l' mu(l, l') (K_m Q)_i(l'): a constant added to column
    l' adds the same amount to every label's energy, which the softmax removes."""
    image, unary = _scene(rng)
    shifted = MU_TRUE + np.array([0.7, -1.3, 2.0])[None, :]
    Q, _ = dense_crf_forward(image, unary, compat=MU_TRUE, method="exact", **RECOVERY)
    Q2, _ = dense_crf_forward(image, unary, compat=shifted, method="exact", **RECOVERY)
    assert np.abs(Q - Q2).max() < 1e-12
    Q3, _ = dense_crf_forward(image, unary, compat=MU_TRUE + np.array([[0.7], [-1.3], [2.0]]), method="exact",
                              **RECOVERY)
    assert np.abs(Q - Q3).max() > 1e-3  # a constant per row is not invisible


def test_per_kernel_compat_is_one_matrix_per_kernel(rng):
    """A (2, L, L) compat: the same pair twice is the shared matrix; a zero matrix switches its
    kernel off (the same Q as that kernel's weight at 0); the shared matrix's gradient is the sum
    of the pair's."""
    image, unary = _scene(rng, 7, 6, 3)
    mu_b, mu_g = rng.uniform(-0.5, 1.5, (2, 3, 3))
    kw = dict(n_iter=4, theta_alpha=4.0, theta_beta=40.0, theta_gamma=2.0, method="exact")
    Q, cache = dense_crf_forward(image, unary, compat=mu_b, **kw)
    Q2, cache2 = dense_crf_forward(image, unary, compat=np.stack([mu_b, mu_b]), **kw)
    assert np.abs(Q - Q2).max() < 1e-13
    dQ = rng.standard_normal(Q.shape)
    g, g2 = dense_crf_backward(dQ, cache), dense_crf_backward(dQ, cache2)
    np.testing.assert_allclose(g2["compat"].sum(axis=0), g["compat"], rtol=1e-12)
    for off, zeroed in ((0, "w_bilateral"), (1, "w_gaussian")):
        pair = np.stack([mu_b, mu_g])
        pair[off] = 0.0
        Q3, _ = dense_crf_forward(image, unary, compat=pair, **kw)
        alone, _ = dense_crf_forward(image, unary, compat=pair[1 - off], **dict(kw, **{zeroed: 0.0}))
        assert np.abs(Q3 - alone).max() < 1e-13
    with pytest.raises(ValueError, match=r"compat must be 'potts', an \(3, 3\) array or a \(2, 3, 3\) pair"):
        dense_crf_forward(image, unary, compat=np.zeros((3, 3, 3)), **kw)


def _fit_compat(data, start, method, maxiter):
    """L-BFGS over compat (shaped like ``start``) minimising the cross-entropy of the CRF's
    beliefs against the ``(image, unary, target)`` triples, with dense_crf_backward's gradient."""
    from scipy.optimize import minimize

    def loss_and_grad(x):
        loss, grad = 0.0, np.zeros(start.shape)
        for image, unary, target in data:
            Q, cache = dense_crf_forward(image, unary, compat=x.reshape(start.shape), method=method, **RECOVERY)
            loss -= float((target * np.log(Q)).sum())
            grad += dense_crf_backward(-target / Q, cache)["compat"]
        return loss, grad.ravel()

    res = minimize(loss_and_grad, start.ravel(), jac=True, method="L-BFGS-B",
                   options=dict(gtol=1e-12, ftol=1e-15, maxiter=maxiter))
    return res.x.reshape(start.shape), res


@pytest.mark.parametrize("method", ["exact", "lattice"])
def test_learning_recovers_a_known_compatibility_matrix(method, rng):
    """Beliefs generated by a CRF with MU_TRUE are the targets; minimising their cross-entropy
    over mu with dense_crf_backward's gradient, from Potts, finds MU_TRUE (up to the constant per
    column that no data can see). A wrong or biased compat gradient stops L-BFGS away from it."""
    data = []
    for _ in range(4):
        image, unary = _scene(rng, H=7, W=8)
        Q, _ = dense_crf_forward(image, unary, compat=MU_TRUE, method=method, **RECOVERY)
        data.append((image, unary, Q))

    start = 1.0 - np.eye(3)
    found, res = _fit_compat(data, start, method, maxiter=500)
    error = np.abs(_column_centred(found) - _column_centred(MU_TRUE)).max()
    assert np.abs(_column_centred(start) - _column_centred(MU_TRUE)).max() > 1.0
    assert error < 1e-6, (error, res.message)


@pytest.mark.parametrize("method", ["exact", "lattice"])
def test_learning_recovers_a_known_pair_of_compatibility_matrices(method, rng):
    """As above with one matrix per kernel, two different ones: L-BFGS on the (2, 3, 3) gradient
    finds both (each up to its own constant per column), so the data tell the kernels apart."""
    truth = np.stack([MU_TRUE, [[0.0, 0.0, 2.0], [2.0, 0.0, 0.0], [0.5, 2.5, 0.0]]])
    data = []
    for _ in range(6):
        image, unary = _scene(rng, H=7, W=8)
        Q, _ = dense_crf_forward(image, unary, compat=truth, method=method, **RECOVERY)
        data.append((image, unary, Q))

    start = np.stack([1.0 - np.eye(3)] * 2)
    found, res = _fit_compat(data, start, method, maxiter=1000)
    error = max(np.abs(_column_centred(found[m]) - _column_centred(truth[m])).max() for m in range(2))
    assert np.abs(_column_centred(truth[0]) - _column_centred(truth[1])).max() > 1.0
    assert error < 1e-5, (error, res.message)
