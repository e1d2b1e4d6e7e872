# %% [markdown]
# # Lesson 14 — Learning the CRF
#
# CRF **learning** starts from samples $D = \{(x_n, y_n)\}$ (images and their labellings),
# features $\phi(x, y)$ and weights $w$ in the log-linear model
# $p(y \mid x, w) \propto \exp\langle w, \phi(x, y)\rangle$. Lesson 8 learned one weight of a
# tiny grid CRF by maximum likelihood: match the observed features to the expected ones. That
# needs the model's pairwise marginals, which mean field gets wrong, and the learned weight was
# biased. DeepLab sidesteps learning: it sets the dense CRF's few weights by cross-validation.
#
# CRF-as-RNN (Zheng et al., ICCV 2015) takes a third way. The T mean-field iterations that
# produce the beliefs are a differentiable function of the unaries U, the kernel weights
# $w = (w_\text{bilateral}, w_\text{gaussian})$ and a label **compatibility** matrix $\mu$:
#
# $$Q = \mathrm{MF}_T(U; w, \mu):\qquad Q_0 = \mathrm{softmax}(-U),\quad
# E_t = -U - \sum_m w_m\, (K_m Q_{t-1})\, \mu^\top,\quad Q_t = \mathrm{softmax}(E_t),$$
#
# with Q, U and the scores E (lesson 13) as (pixels N, labels L) arrays, $K_m$ the normalised
# Gaussian kernels of lesson 10 (appearance and smoothness) and the softmax over labels. Row l of $\mu$ is what label l pays
# per unit of a neighbour's belief in each label l'; Potts is $\mu = 1 - I$. So learn
# $(w, \mu)$ the way a network is trained: a loss of $Q_T$ against the ground truth (pixel
# cross-entropy), its gradient by backpropagating through the T iterations, gradient steps.
# The loss judges the beliefs that mean field actually produces, approximation included. The
# kernels' standard deviations $\theta$ stay fixed: they define the features, not the weights.
# The gradient with respect to U goes on to the DCNN below, which is how CRF-as-RNN trains
# both end to end; here the unaries are fixed and only the CRF learns.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf_backward, dense_crf_forward
from minideeplab.crf.dense import pixel_features
from minideeplab.crf.learn import crf_cross_entropy
from minideeplab.crf.pairwise import GaussianKernel
from minideeplab.datasets import SyntheticScenes, noisy_probs
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.nn import numerical_gradient, rel_error
from minideeplab.optim import Adam
from minideeplab.viz import show_compat, show_rows

# a tiny scene for the checks: 8 x 10 pixels, 3 labels, unaries in float64
image, truth = SyntheticScenes(1, (8, 10), num_classes=3, objects=(2, 2), seed=4, radius=(0.3, 0.4))[0]
L, H, W = 3, 8, 10
U = -np.log(noisy_probs(truth, L, strength=1.0, noise=1.0, rng=0))  # (L, H, W) float64
thetas = dict(theta_alpha=4.0, theta_beta=30.0, theta_gamma=2.0)
print("truth:\n", truth)

# %% [markdown]
# ## One iteration, forward and backward
#
# Backpropagation through one iteration needs three local derivatives. Write $g = \partial\ell /
# \partial Q_t$ for what arrives from above.
#
# * **The softmax.** $Q_t = \mathrm{softmax}(E_t)$ per pixel has the Jacobian
#   $\partial Q(l) / \partial E(k) = Q(l)([l = k] - Q(k))$, so
#   $dE = Q_t \odot (g - \sum_l Q_t(l)\, g(l))$: the incoming gradient minus its Q-weighted
#   mean, times Q.
# * **The parameters.** $E_t$ is linear in $U$, in each $w_m$ and in $\mu$:
#   $dU \mathrel{-}= dE$, $\;dw_m = -\sum dE \odot (A_m \mu^\top)$ and
#   $d\mu = -\sum_m w_m\, dE^\top A_m$, where $A_m = K_m Q_{t-1}$ is the filtered belief the
#   forward pass kept.
# * **The filter.** The message reaches $E_t$ through $K_m Q_{t-1}$, so the gradient flows back
#   through the **transposed** filter: $dQ_{t-1} = -\sum_m w_m K_m^\top (dE\, \mu)$.
#
# Below, one iteration by hand with the exact kernels (``method="exact"``: the N x N kernel
# matrices, fine for 80 pixels), forward and backward, against the library's
# ``dense_crf_forward`` / ``dense_crf_backward`` with ``n_iter=1``.

# %%
def softmax(E):
    """Over the labels (axis 1 of an (N, L) array)."""
    e = np.exp(E - E.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


w = np.array([4.0, 3.0])                     # w_bilateral, w_gaussian
mu = np.random.default_rng(1).uniform(0, 2, (L, L))  # any compatibility, not only Potts
kernels = [GaussianKernel(f, method="exact") for f in (  # appearance, smoothness
    pixel_features(image, H, W, thetas["theta_alpha"], thetas["theta_beta"]),
    pixel_features(image, H, W, thetas["theta_gamma"]))]
Un = U.reshape(L, H * W).T                   # (N, L)
Q0 = softmax(-Un)
A = [k.apply(Q0) for k in kernels]           # K_m Q_0
Q1 = softmax(-Un - sum(wm * a @ mu.T for wm, a in zip(w, A)))

R = np.random.default_rng(2).normal(size=(L, H, W))  # the loss sum(R * Q): dQ = R
g = R.reshape(L, H * W).T
dE = Q1 * (g - (Q1 * g).sum(1, keepdims=True))       # through the softmax
dw = np.array([-np.sum(dE * (a @ mu.T)) for a in A])
dmu = -sum(wm * dE.T @ a for wm, a in zip(w, A))
g0 = -sum(wm * k.apply(dE @ mu, transpose=True) for wm, k in zip(w, kernels))  # dl/dQ_0
dU = -dE - Q0 * (g0 - (Q0 * g0).sum(1, keepdims=True))  # U enters E_1 and Q_0 = softmax(-U)

params = dict(w_bilateral=w[0], w_gaussian=w[1], compat=mu, method="exact", **thetas)
Q, cache = dense_crf_forward(image, U, n_iter=1, **params)
grads = dense_crf_backward(R, cache)
checks = {"Q": rel_error(Q1.T.reshape(L, H, W), Q),
          "w": rel_error(dw, [grads["w_bilateral"], grads["w_gaussian"]]),
          "compat": rel_error(dmu, grads["compat"]),
          "unary": rel_error(dU.T.reshape(L, H, W), grads["unary"])}
print("by hand vs the library, relative error:", {k: f"{v:.1e}" for k, v in checks.items()})
assert max(checks.values()) < 1e-9

# %% [markdown]
# ## T iterations: backpropagation through time
#
# With T iterations the backward pass runs them in reverse, each one as above, feeding its
# $dQ_{t-1}$ to the iteration before and summing the parameter gradients over iterations (the
# same $w$ and $\mu$ act at every step: a recurrent network's shared weights). The forward pass
# keeps every $Q_t$ and every $K_m Q_{t-1}$ for it.
#
# The standard check (lesson 6): a central-difference numerical gradient in float64 against the
# backward pass, for both kernel weights, every entry of $\mu$ and every unary, through T = 5
# iterations. A correct backward gives a relative error near 1e-9; above 1e-6 means a bug.

# %%
T = 5
p = {"w_bilateral": np.array([4.0]), "w_gaussian": np.array([3.0]), "compat": mu.copy(), "unary": U.copy()}


def beliefs():
    return dense_crf_forward(image, p["unary"], n_iter=T, w_bilateral=p["w_bilateral"][0],
                             w_gaussian=p["w_gaussian"][0], compat=p["compat"], method="exact", **thetas)[0]


Q, cache = dense_crf_forward(image, U, n_iter=T, **params)
grads = dense_crf_backward(R, cache)
errors = {}
for name in p:
    numeric = numerical_gradient(beliefs, p[name], R)  # d sum(R * Q) / d p[name]
    errors[name] = rel_error(numeric, np.reshape(grads[name], numeric.shape))
print("numerical vs backward, relative error:", {k: f"{v:.1e}" for k, v in errors.items()})
assert max(errors.values()) < 1e-6

# %% [markdown]
# ## The transposed filter on the lattice
#
# For the exact kernel with the symmetric normalisation, $n K n$ with
# $n = 1/\sqrt{K\mathbf{1}}$, the matrix is symmetric, so $K^\top = K$ and the backward pass can
# reuse the forward filter. The permutohedral lattice (lesson 11) only approximates that
# symmetric matrix: splat, blur along each lattice direction in turn, slice. Its transpose runs
# the blurs in the reverse order and is the exact adjoint of what the forward pass computed;
# ``apply(..., transpose=True)`` applies it.
# We build both operators as matrices by filtering the identity.

# %%
feats = pixel_features(image, H, W, thetas["theta_alpha"], thetas["theta_beta"])
eye = np.eye(H * W)
K_exact = GaussianKernel(feats, method="exact").apply(eye)
lat = GaussianKernel(feats, method="lattice")
K_lat, K_lat_T = lat.apply(eye), lat.apply(eye, transpose=True)
asym_exact = np.abs(K_exact - K_exact.T).max() / np.abs(K_exact).max()
asym_lat = np.abs(K_lat - K_lat.T).max() / np.abs(K_lat).max()
adjoint = np.abs(K_lat_T - K_lat.T).max() / np.abs(K_lat).max()
print(f"|K - K^T| / |K|: exact {asym_exact:.1e}, lattice {asym_lat:.1e}; "
      f"lattice transpose=True vs K^T: {adjoint:.1e}")
assert asym_exact < 1e-12  # symmetric: the forward filter serves the backward pass
assert asym_lat > 100 * adjoint and adjoint < 1e-5  # the lattice needs its own transpose

# %% [markdown]
# ## Exercise: the loss
#
# The loss CRF-as-RNN trains with is the pixel cross-entropy of the beliefs against the
# ground truth, $\ell = -\frac{1}{N}\sum_i \log Q_i(y_i)$ over the N labelled pixels (void,
# label 255, left out). Its gradient $dQ = \partial \ell / \partial Q$ is what the backward pass
# starts from.

# %% tags=["solution"]
# Exercise: `cross_entropy(Q, label)` -> (loss, dQ), with Q (L, H, W) beliefs and label (H, W);
# pixels with label 255 count neither in the loss nor in N, and get dQ = 0.
# BEGIN SOLUTION
def cross_entropy(Q, label):
    valid = label != 255
    ys, xs = np.nonzero(valid)
    q = Q[label[valid], ys, xs]
    dQ = np.zeros_like(Q)
    dQ[label[valid], ys, xs] = -1.0 / (q * valid.sum())
    return float(-np.log(q).mean()), dQ
# END SOLUTION


# %%
label = truth.copy()
label[0, :4] = 255  # a few void pixels
Q, cache = dense_crf_forward(image, U, n_iter=T, **params)
loss, dQ = cross_entropy(Q, label)
ref_loss, ref_dQ = crf_cross_entropy(Q, label)
assert abs(loss - ref_loss) < 1e-12 and rel_error(dQ, ref_dQ) < 1e-12
# chained through the backward pass, your dQ gives the gradient of the loss itself
dw_b = dense_crf_backward(dQ, cache)["w_bilateral"]
p = {"w_bilateral": np.array([4.0]), "w_gaussian": np.array([3.0]), "compat": mu.copy(), "unary": U.copy()}
numeric = numerical_gradient(lambda: cross_entropy(beliefs(), label)[0], p["w_bilateral"], 1.0)[0]
print(f"loss {loss:.4f}; d loss / d w_bilateral: backward {dw_b:.6f}, numerical {numeric:.6f}")
assert rel_error(dw_b, numeric) < 1e-6

# %% [markdown]
# ## What the data cannot tell: a constant per column of $\mu$
#
# Add a constant c to column l' of $\mu$ (to $\mu(l, l')$ for every l). In the update, the
# score of **every** label l at pixel i changes by the same amount,
# $-c \sum_m w_m (K_m Q_{t-1})_i(l')$, since that sum does not depend on l. A softmax does not
# see a shift common to all its inputs, so $Q_1$ is unchanged, hence $Q_2$, and so on: no loss
# of Q can tell the two matrices apart, and the gradient's columns sum to zero. (A constant per
# *row* is different: it shifts label l's score by $c$ times the total message, which varies
# from label to label.) Likewise $\mu$ and $w$ trade scale: $(s\mu, w/s)$ gives the same Q.
#
# So only differences within a column mean something: $\mu(l, l') - \mu(k, l')$ says how much
# more label l than label k pays beside a neighbour who believes l'. Learned matrices are
# compared column-centred (each column minus its mean).

# %%
shift = np.zeros((L, L))
shift[:, 1] = 5.0                      # + 5 on column 1
row_shift = np.zeros((L, L))
row_shift[1, :] = 5.0                  # + 5 on row 1, for contrast
Qs = {name: dense_crf_forward(image, U, n_iter=T, **dict(params, compat=m))[0]
      for name, m in [("mu", mu), ("column", mu + shift), ("row", mu + row_shift)]}
Q_scaled = dense_crf_forward(image, U, n_iter=T, **dict(params, compat=2 * mu, w_bilateral=w[0] / 2,
                                                         w_gaussian=w[1] / 2))[0]
d_col, d_row = np.abs(Qs["column"] - Qs["mu"]).max(), np.abs(Qs["row"] - Qs["mu"]).max()
d_scale = np.abs(Q_scaled - Qs["mu"]).max()
col_sums = np.abs(dense_crf_backward(dQ, cache)["compat"].sum(0)).max()
print(f"max |Q change|: column + 5: {d_col:.1e}, row + 5: {d_row:.2f}, (2 mu, w / 2): {d_scale:.1e}; "
      f"largest column sum of d loss / d mu: {col_sums:.1e}")
assert d_col < 1e-12 and d_scale < 1e-12 and col_sums < 1e-12
assert d_row > 0.01


def centred(m):
    """Each column minus its mean: the part of mu that the beliefs depend on."""
    m = np.asarray(m, dtype=np.float64)
    return m - m.mean(0)


assert np.allclose(centred(mu + shift), centred(mu))

# %% [markdown]
# ## Learning on data: a classifier that confuses two classes
#
# Where would a learned $\mu$ beat Potts? Potts treats every pair of labels alike; it can only
# say "agree with your neighbours". A classifier's errors are rarely that even. Here the
# simulated classifier (``noisy_probs``: the true label's logit raised by 1.5, blurred Gaussian
# noise) has one systematic fault: on **box** pixels it also raises the logit of **disc** by
# 1.5, so box pixels are called disc about half the time, while disc pixels keep their label.
# Scenes of 48 x 48 pixels, 4 classes (background, disc, box, triangle); 30 for learning, 30 held
# out.

# %%
names = ["background", "disc", "box", "triangle"]
DISC, BOX = 1, 2
NL, BIAS = len(names), 1.5


def make_set(n, seed):
    """n scenes with the classifier's unaries: (image, U (NL, H, W), label) each."""
    scenes = SyntheticScenes(n, (48, 48), num_classes=NL, objects=(2, 4), seed=seed)
    out = []
    for i in range(n):
        img, lab = scenes[i]
        P = noisy_probs(lab, NL, strength=1.5, noise=1.5, smooth=1.5, rng=[seed, i])
        P[DISC] *= np.where(lab == BOX, np.exp(BIAS), 1.0)  # + BIAS on disc's logit at box pixels
        P /= P.sum(0)
        out.append((img, -np.log(np.maximum(P, 1e-5)), lab))
    return out


train, test = make_set(30, 100), make_set(30, 200)


def evaluate(data, crf=None):
    """summarize() of the unary's labelling (crf None) or of the CRF's beliefs after 5 iterations."""
    conf = np.zeros((NL, NL), np.int64)
    for img, Un_, lab in data:
        pred = (-Un_).argmax(0) if crf is None else dense_crf_forward(img, Un_, n_iter=5, **crf)[0].argmax(0)
        conf += confusion_matrix(lab, pred, NL)
    return summarize(conf)


unary_scores = evaluate(test)
print("unary, held out, per class:", {n: round(float(a), 3) for n, a in zip(names, unary_scores["per_class_acc"])})
assert 0.3 < unary_scores["per_class_acc"][BOX] < 0.7 and unary_scores["per_class_acc"][DISC] > 0.95

# %% [markdown]
# ## The learning loop
#
# The loop is the one that trains a network (lesson 7), with the CRF as the whole model: pick
# a training scene, run T = 5 mean-field iterations, cross-entropy, backward, an Adam step.
# The kernel weights are kept non-negative (a projected step). Two runs from the same start
# (w = 1 for both kernels, $\mu$ = Potts): one learns only $w$ with $\mu$ frozen at Potts, one
# learns $w$ and $\mu$. The kernels' standard deviations stay at the library's defaults.
# ``minideeplab.crf.learn.learn_crf`` (and ``minideeplab learn-crf``) is the same loop on random
# crops, with a validation set choosing when to stop and how many iterations to run.

# %%
def learn(data, learn_mu, steps=200, lr=0.05, seed=0):
    """Adam on the cross-entropy of Q_5; returns the CRF's parameters and the loss per step."""
    theta = {"w_bilateral": np.array(1.0), "w_gaussian": np.array(1.0), "compat": 1.0 - np.eye(NL)}
    opt = Adam(theta, lr)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        img, Un_, lab = data[rng.integers(len(data))]
        Q, cache = dense_crf_forward(img, Un_, n_iter=5, w_bilateral=float(theta["w_bilateral"]),
                                     w_gaussian=float(theta["w_gaussian"]), compat=theta["compat"])
        loss, dQ = crf_cross_entropy(Q, lab)
        g = dense_crf_backward(dQ, cache)
        opt.step({"w_bilateral": np.array(g["w_bilateral"]), "w_gaussian": np.array(g["w_gaussian"]),
                  "compat": g["compat"] if learn_mu else np.zeros((NL, NL))})
        for k in ("w_bilateral", "w_gaussian"):
            np.maximum(theta[k], 0.0, out=theta[k])
        losses.append(loss)
    crf = dict(w_bilateral=float(theta["w_bilateral"]), w_gaussian=float(theta["w_gaussian"]),
               compat=theta["compat"].copy())
    return crf, np.array(losses)


potts, potts_losses = learn(train, learn_mu=False)
learned, learned_losses = learn(train, learn_mu=True)
assert np.array_equal(potts["compat"], 1.0 - np.eye(NL))


def smooth(x, k=20):
    return np.convolve(x, np.ones(k) / k, mode="valid")


plt.figure(figsize=(6, 3))
plt.plot(smooth(potts_losses), label="w only (Potts)")
plt.plot(smooth(learned_losses), label="w and mu")
plt.xlabel("step"); plt.ylabel("cross-entropy (mean of 20 steps)"); plt.legend(); plt.show()
print(f"Potts:   w_bilateral {potts['w_bilateral']:.2f}, w_gaussian {potts['w_gaussian']:.2f}")
print(f"learned: w_bilateral {learned['w_bilateral']:.2f}, w_gaussian {learned['w_gaussian']:.2f}")

# %% [markdown]
# ## Held-out scores
#
# Unary alone, the Potts CRF with its learned weights, and the CRF with learned weights and
# compatibilities, on the 30 held-out scenes.

# %%
results = {"unary": unary_scores, "Potts CRF": evaluate(test, potts), "learned CRF": evaluate(test, learned)}
print(f"{'':12s} {'global':>7s} {'class-avg':>9s} {'mIoU':>6s}   per class ({', '.join(names)})")
for name, s in results.items():
    print(f"{name:12s} {100 * s['global_acc']:7.1f} {100 * s['class_avg_acc']:9.1f} {100 * s['mean_iou']:6.1f}"
          f"   {np.round(100 * s['per_class_acc'], 1)}")
img, Un_, lab = test[0]
show_rows([[img, lab, (-Un_).argmax(0)] + [dense_crf_forward(img, Un_, n_iter=5, **c)[0].argmax(0)
                                          for c in (potts, learned)]],
          ["image", "truth", "unary", "Potts CRF", "learned CRF"], class_names=names)
plt.show()
gain = results["learned CRF"]["class_avg_acc"] - results["Potts CRF"]["class_avg_acc"]
print(f"learned - Potts, class-average accuracy: {100 * gain:+.1f} points")
assert gain > 0.05
assert results["learned CRF"]["global_acc"] > results["Potts CRF"]["global_acc"]
assert results["Potts CRF"]["per_class_acc"][BOX] < 0.7 < 0.9 < results["learned CRF"]["per_class_acc"][BOX]

# %% [markdown]
# Potts cannot repair this fault. Inside a box, the neighbours' beliefs are split between disc
# and box about evenly, and "agree with your neighbours" settles each region on whichever label
# happens to lead there. The learned CRF repairs most of it, without any change to the
# classifier. How, the matrix shows.
#
# ## The learned compatibility
#
# Both matrices column-centred, each as ``show_compat`` draws it (minus its diagonal's mean).
# Read a column: beside a neighbour who believes l', which labels are cheap (blue) and which
# expensive (red). The number that matters is the gap $\mu(l, l') - \mu(l', l')$: how much more
# label l pays than l' itself beside l'. Potts charges every gap 1.

# %%
for name, crf in (("Potts", potts), ("learned", learned)):
    show_compat(centred(crf["compat"]), names,
                title=f"{name}: w = ({crf['w_bilateral']:.2f}, {crf['w_gaussian']:.2f})")
    plt.show()
m = centred(learned["compat"])
gaps = m - np.diag(m)[None, :]          # gaps[l, l'] = mu(l, l') - mu(l', l')
off = ~np.eye(NL, dtype=bool)
print("learned gaps mu(l, l') - mu(l', l') (rows l, columns l'):\n", np.round(gaps, 2))
smallest = np.unravel_index(np.where(off, gaps, np.inf).argmin(), gaps.shape)
print(f"smallest gap: {names[smallest[0]]} beside {names[smallest[1]]} ({gaps[smallest]:.2f}); "
      f"others in that column: {np.round(np.delete(gaps[:, DISC], [BOX, DISC]), 2)}")
assert smallest == (BOX, DISC)          # box is the label that may sit among disc beliefs
assert gaps[BOX, DISC] < 0.75 * np.delete(gaps[:, DISC], [BOX, DISC]).min()
others = gaps[off & ~((np.arange(NL)[:, None] == BOX) & (np.arange(NL)[None, :] == DISC))]
for k in ("w_bilateral", "w_gaussian"):
    lo, hi = learned[k] * others.min(), learned[k] * others.max()
    print(f"{k}: Potts {potts[k]:.2f} x 1; learned {learned[k]:.2f} x the other gaps "
          f"({others.min():.2f} to {others.max():.2f}) = {lo:.2f} to {hi:.2f}")
    assert lo > potts[k]

# %% [markdown]
# The learned matrix says what the data taught. The smallest gap of all is box beside disc: a
# disc belief nearby costs a box label far less than it costs background or triangle, so inside
# a box the disc beliefs no longer vote against box, while the box beliefs there (about half)
# still vote against disc. In a real disc, where hardly any pixel believes box, the disc label
# still wins almost everywhere, on its unary and its neighbours.
#
# Every other gap grew beyond Potts's. Since $\mu$ and $w$ trade scale, compare the products:
# each kernel weight times the gap (Potts: the weight times 1). Every class now holds its own
# label more firmly than under Potts, as on MSRC below.
#
# ## On MSRC-21
#
# ``minideeplab learn-crf`` runs this learning on MSRC-21 and ``minideeplab train --crf-head``
# trains the network and the CRF together, as CRF-as-RNN does (``benchmarks/RESULTS.md``, "A
# learned CRF on held-out unaries"). On the 256 test images, global / class-average accuracy /
# mean IoU, with the shipped width-1/4 DCNN: unary 78.2 / 68.8 / 53.6, the cross-validated Potts
# CRF 80.0 / 69.5 / 55.7. What learning did:
#
# * **Learned on the net's training images, the CRF learns to trust the unaries.** There the net
#   is right on 94% of the pixels (mean top probability 0.95), on new images on 75% (0.87), and
#   the learned kernel weights fall towards 0 to suit unaries that are nearly always right.
# * **Learned on held-out images (28 validation images, picked on the other 28), it does not beat
#   Potts.** No learned matrix beat the cross-validated CRF by more than 0.3 mIoU on the picking
#   half: 441 compatibilities from 28 images against 3 numbers cross-validated. With the loss
#   weighted per class (``--class-weights median-frequency``) and mu held near Potts
#   (``--potts-prior 0.1``) the learned CRF trades global accuracy for the class average: 78.2 /
#   71.4 / 54.6 on test.
# * **Learned on held-out unaries of all 279 training images** (two nets, each trained on one
#   half and scoring the other: ``train --hold-out I/K``, ``learn-crf --folds``), learning
#   switched the CRF off: the validation images' mIoU fell to the unaries' own. The reason is
#   the loss: on those images the cross-validated Potts CRF raises the pixel accuracy (68.8% to
#   70.7%) but nearly doubles the cross-entropy of its beliefs (1.50 to 2.73), because it makes
#   wrong regions confidently wrong. Accuracy and cross-entropy part ways.
# * **With a bounded loss it keeps the CRF on.** ``--loss expected-error`` minimises
#   $1 - Q_i(y_i)$, the error of a labelling drawn from Q, which costs a confidently wrong pixel
#   at most 1: on those images the Potts CRF lowers it (0.335 to 0.293) as it raises the
#   accuracy. Learned this way on the 279 held-out unaries, the kernel weights rose instead of
#   falling (4 / 3 to about 4.6 / 3.2), and with the loss weighted towards rare classes
#   (median frequency cubed, a moving average of the parameters) the learned CRF reached
#   79.9 / 69.9 / 55.7 on test (mean of twelve seeds): +1.7 global and +1.1 class-average over
#   the unaries, where Potts gives +1.8 and +0.7. The seeds' class averages spread over more
#   than a point (69.2 to 70.4), and averaging four seeds' parameters lands where its members
#   do on average (69.7 and 70.0 for two such groups). Four crops a step (the best global accuracy, 80.1 and 80.3), whole
#   images, or 10 mean-field iterations while learning did not lift it (69.9 to 70.2), nor did
#   learning the matrix alone with Potts's kernel weights (69.7, 69.8). The fold nets' unaries
#   are weaker than the ones the CRF meets on test (68.9% global on the images they left out,
#   the shipped net 75.8% on val), but a second schedule that lifted them to 69.8% did not move
#   the learned CRF (69.9 and 69.9), nor did three nets trained on two thirds each (72.1% on the
#   images they left out; 79.8 / 70.0 on test, mean of four seeds). Nor did a learned label prior (``--learn-bias``: a bias
#   per class added to the log-probabilities, ``dense_crf``'s ``bias``): it trades global
#   accuracy for class average, seed by seed, rather than adding to both. Nor did one matrix
#   per kernel (``--per-kernel``, CRF-as-RNN's and pydensecrf's form: the bilateral kernel's
#   colour-driven spread and the Gaussian kernel's local smoothing each with its own mu),
#   79.8 / 69.9 and 80.0 / 69.7 with two seeds.
# * **End to end** (1,000 iterations from the shipped net), the CRF gains +2.6 global and +2.0
#   class-average over the fine-tuned net's own unaries, but the fine-tuning cost the unaries 1.5
#   points: 79.3 / 69.3 / 55.0 in all, just below the shipped net with Potts.
#
# The matrix the end-to-end run learned (``benchmarks/learned_compat.py``; each entry minus the
# diagonal's mean, as ``show_compat`` draws it):
#
# ![learned MSRC compatibility](../benchmarks/figures/learned_compat_e2e.png)
#
# Read it by columns, as above: the gap $\mu(l, l') - \mu(l', l')$ is what label l pays beyond
# l' itself beside a neighbour who believes l'. No gap fell below 0 (mean +1.08, Potts 1), but
# they spread from +0.3 to +2.4 and the spread is MSRC's photographs: cheap are pairs that meet,
# flower beside building (+0.32), dog beside tree (+0.33), car, face and body beside each other
# (+0.35 to +0.43); dear are pairs that never do, book beside sky (+2.41), sky beside face
# (+2.29), cow beside car (+2.20). The CRF learned which classes may sit next to which.
#
# ## What you saw
#
# * T mean-field iterations are a differentiable function $Q = \mathrm{MF}_T(U; w, \mu)$: the
#   backward pass needs the softmax Jacobian, the kept filtered beliefs and the transposed
#   filter (the exact kernel is symmetric; the lattice is not, and has its own transpose). It
#   matched numerical gradients to better than 1e-6.
# * $\mu$ is identifiable only up to a constant per column (and a scale traded with w): such a
#   change leaves every belief unchanged, so learned matrices are compared column-centred.
# * Learned by Adam on the beliefs' cross-entropy, the compatibility matrix found the
#   classifier's systematic fault (box called disc) and fixed most of it, where a Potts CRF
#   with learned weights could not.
# * On MSRC-21 a CRF must learn from unaries like the ones it will meet: on the net's own
#   training images it learns to trust them, and 28 held-out images are too few to beat three
#   cross-validated numbers; on many held-out images the cross-entropy it minimises prefers no
#   CRF at all, the bounded expected error does not. Trained end to end, its matrix reads as
#   which classes meet.
#
# **Next:** [15_results.ipynb](15_results.ipynb) — results: what the CRF adds, near boundaries
# and in the tables.
#
# ## References
#
# * S. Zheng, S. Jayasumana, B. Romera-Paredes, V. Vineet, Z. Su, D. Du, C. Huang, P. H. S.
#   Torr. *Conditional Random Fields as Recurrent Neural Networks.* ICCV 2015 (mean field as
#   network layers; kernel weights and compatibilities learned by backpropagation, end to end
#   with the DCNN).
# * P. Krähenbühl, V. Koltun. *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials.* NIPS 2011 (the dense CRF, its mean-field updates and the label compatibility
#   function).
# * P. Krähenbühl, V. Koltun. *Parameter Learning and Convergent Inference for Dense Random
#   Fields.* ICML 2013 (gradients of losses of the mean-field marginals, for learning all the
#   dense CRF's parameters jointly).
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (the CRF's weights set by cross-validation).
