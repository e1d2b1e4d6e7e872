# %% [markdown]
# # Lesson 8 — CRFs as log-linear models
#
# A conditional random field scores a whole labelling y of an image x:
#
# $$p(y \mid x, w) = \frac{\exp\langle w, \phi(x, y)\rangle}{Z(x, w)} = \frac{\exp(-E(y))}{Z},\qquad
# E(y) = \sum_i U_i(y_i) + \sum_{(i,j)} w\,[y_i \ne y_j].$$
#
# Unary terms say what each pixel looks like (U = -log P from a classifier); pairwise terms
# say that neighbours agree. In the log-linear form the **features** are
# `phi(x, y) = (-sum_i U_i(y_i), -#cut(y))`, where `#cut(y)` counts the neighbouring pairs
# with different labels, and the **weights** are `(1, w)`. Z sums over all L^N labellings:
# fine for a 3x3 image with 2 labels (512 labellings), hopeless for a real one. **Mean field**
# approximates p by a product of per-pixel distributions Q_i, updated in parallel:
#
# $$Q_i(l) \propto \exp\Big(-U_i(l) - \sum_{j \in N(i)} w \sum_{l'} [l \ne l']\,Q_j(l')\Big).$$

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import grid_crf

H, W, L = 3, 3, 2
rng = np.random.default_rng(3)
P = rng.dirichlet([2, 2], size=(H, W)).transpose(2, 0, 1)  # the classifier's beliefs (L, H, W)
U = -np.log(P)
w = 0.6
edges = [((y, x), (y, x + 1)) for y in range(H) for x in range(W - 1)] + \
        [((y, x), (y + 1, x)) for y in range(H - 1) for x in range(W)]


def energy(y):
    return sum(U[y[i, j], i, j] for i in range(H) for j in range(W)) + sum(w * (y[a] != y[b]) for a, b in edges)


labellings = [np.array(t).reshape(H, W) for t in itertools.product(range(L), repeat=H * W)]
print(len(labellings), "labellings")

# %% tags=["solution"]
# Exercise: compute log Z and the exact marginals `exact` (L, H, W): exact[l, i, j] = p(y_ij = l).
# BEGIN SOLUTION
E = np.array([energy(y) for y in labellings])
logZ = np.log(np.exp(-(E - E.min())).sum()) - E.min()
prob = np.exp(-E - logZ)
exact = np.zeros((L, H, W))
for p, y in zip(prob, labellings):
    for l in range(L):
        exact[l] += p * (y == l)
# END SOLUTION

# %%
assert np.allclose(exact.sum(0), 1)
assert abs(np.exp(-np.array([energy(y) for y in labellings]) - logZ).sum() - 1) < 1e-9
mf = grid_crf(np.zeros((H, W, 1)), P, n_iter=20, connectivity=4, w_smooth=w, w_contrast=0.0)
print("exact p(y_ij = 1):\n", exact[1].round(3), "\nmean field Q_ij(1):\n", mf[1].round(3),
      "\nthe unaries alone P_ij(1):\n", P[1].round(3))
assert np.abs(mf - exact).max() < 0.1  # a good approximation at this coupling
assert np.abs(mf - exact).max() < 0.5 * np.abs(P - exact).max()  # and the pairwise terms moved it there

# %% [markdown]
# ## Stronger coupling: mean field becomes overconfident
#
# Mean field ignores the correlations between pixels. As the pairwise weight grows, the true
# distribution puts its mass on a few smooth labellings that disagree with each other (the
# marginals of the uncertain pixels stay spread), while mean field settles on **one** of
# them and is sure of it: its marginals are more peaked than the exact ones. We measure
# peakedness by the mean entropy of the per-pixel marginals (log 2 = 0.69 nats for a coin
# flip, 0 for certainty).
#
# For the sweep, all 512 labellings are held as an array, with their two features.

# %%
Y = np.array(labellings)                                 # (512, H, W)
ii, jj = np.mgrid[0:H, 0:W]
phi_unary = -U[Y, ii, jj].sum((1, 2))                    # -sum_i U_i(y_i) per labelling
cut = sum((Y[:, a[0], a[1]] != Y[:, b[0], b[1]]).astype(float) for a, b in edges)  # #cut(y)


def exact_distribution(wv):
    """p(y | x, (1, wv)) over the 512 labellings, by enumeration."""
    s = phi_unary - wv * cut                             # <w, phi(x, y)>
    p = np.exp(s - s.max())
    return p / p.sum()


def mean_entropy(q1):
    q = np.clip(q1, 1e-12, 1 - 1e-12)
    return float(-(q * np.log(q) + (1 - q) * np.log(1 - q)).mean())


assert np.allclose(exact_distribution(w) @ (Y == 1).reshape(len(Y), -1), exact[1].ravel())  # the exercise again

ws = np.linspace(0, 1.75, 15)
gap, h_exact, h_mf = [], [], []
for wv in ws:
    ex1 = np.tensordot(exact_distribution(wv), (Y == 1).astype(float), 1)
    q = grid_crf(np.zeros((H, W, 1)), P, n_iter=50, connectivity=4, w_smooth=wv, w_contrast=0.0)
    gap.append(np.abs(q[1] - ex1).max())
    h_exact.append(mean_entropy(ex1))
    h_mf.append(mean_entropy(q[1]))
gap, h_exact, h_mf = map(np.array, (gap, h_exact, h_mf))
fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
ax[0].plot(ws, gap, "o-"); ax[0].set_xlabel("pairwise weight w"); ax[0].set_ylabel("max |Q - exact marginal|")
ax[1].plot(ws, h_exact, "o-", label="exact marginals")
ax[1].plot(ws, h_mf, "s-", label="mean field Q")
ax[1].set_xlabel("pairwise weight w"); ax[1].set_ylabel("mean entropy per pixel (nats)"); ax[1].legend()
plt.show()
k = int(np.argmin(np.abs(ws - 1.5)))
print(f"w = {ws[k]:.2f}: mean entropy exact {h_exact[k]:.3f}, mean field {h_mf[k]:.3f}")
assert gap[0] < 1e-6  # no coupling: mean field is exact
assert np.all(h_mf[ws >= 0.5] < h_exact[ws >= 0.5])  # more peaked than the truth ...
assert h_mf[k] < 0.5 * h_exact[k]                    # ... by far at strong coupling

# %% [markdown]
# Here, past w of about 1.85, the library's **parallel** updates stop settling at all: every
# pixel answers its neighbours' previous beliefs at once, and on the grid's two checkerboard
# halves the labels swap at every iteration. Updating one pixel at a time (or damping the update)
# avoids this. The fully connected CRF of lessons 10-13 updates in parallel all the same:
# that is what turns each update into one filtering of all the Q's at once.

# %%
_, hist = grid_crf(np.zeros((H, W, 1)), P, n_iter=50, connectivity=4, w_smooth=2.0, w_contrast=0.0,
                   return_history=True)
swing = np.abs(hist[-1] - hist[-2]).max()
print(f"w = 2: the last two iterates differ by up to {swing:.2f} in probability")
assert swing > 0.5

# %% [markdown]
# ## Why the marginals matter: learning the weights
#
# CRF **learning** starts from data `D = {(x_n, y_n)}`: labelled images, features
# `phi(x, y)` and weights `w` in `p(y | x, w)`. Maximum likelihood maximises
# `sum_n log p(y_n | x_n, w) = sum_n <w, phi(x_n, y_n)> - log Z(x_n, w)`, a concave function
# of w whose gradient is
#
# $$\sum_n \phi(x_n, y_n) - \mathbb{E}_{p(y \mid x_n, w)}\,\phi(x_n, y):$$
#
# observed features minus expected features. At the optimum they match. The expectation is
# exactly what Z makes intractable; for the pairwise feature it needs the *pairwise*
# marginals `p(y_i, y_j)`, and mean field's answer is the product `Q_i(y_i) Q_j(y_j)`, as if
# neighbours were independent. So learning with mean field matches the wrong expectation.
#
# Here: draw 500 labellings from the model with w = 0.5 (the unary weight stays 1), then find
# the w whose expected number of cut edges equals the data's, once with exact expectations
# and once with mean field's.

# %%
w_true = 0.5
data = np.random.default_rng(1).choice(len(Y), size=500, p=exact_distribution(w_true))
observed_cut = cut[data].mean()
grid_w = np.linspace(0, 1.5, 151)
expected_exact = np.array([exact_distribution(wv) @ cut for wv in grid_w])


def mean_field_cut(wv):
    q = grid_crf(np.zeros((H, W, 1)), P, n_iter=50, connectivity=4, w_smooth=wv, w_contrast=0.0)
    return sum(1 - (q[:, a[0], a[1]] * q[:, b[0], b[1]]).sum() for a, b in edges)


expected_mf = np.array([mean_field_cut(wv) for wv in grid_w])
assert np.all(np.diff(expected_exact) < 0) and np.all(np.diff(expected_mf) < 0)  # one crossing each
w_hat_exact = np.interp(-observed_cut, -expected_exact, grid_w)
w_hat_mf = np.interp(-observed_cut, -expected_mf, grid_w)
plt.plot(grid_w, expected_exact, label="exact expectation")
plt.plot(grid_w, expected_mf, label="mean-field expectation")
plt.axhline(observed_cut, color="k", ls=":", label=f"the data's mean ({observed_cut:.2f})")
plt.axvline(w_true, color="gray", lw=0.8)
plt.xlabel("pairwise weight w"); plt.ylabel("expected #cut edges"); plt.legend(); plt.show()
print(f"true w {w_true}; learned with exact marginals {w_hat_exact:.2f}, with mean field {w_hat_mf:.2f}")
assert abs(w_hat_exact - w_true) < 0.1   # maximum likelihood recovers the weight
assert w_hat_mf > w_hat_exact + 0.15     # mean field's learning is biased

# %% [markdown]
# Even at w = 0.5, where mean field's per-pixel marginals are within a few hundredths of the
# exact ones, its pairwise expectation is off by about one cut edge: independent neighbours
# disagree more often than correlated ones, so it takes a larger w to bring its cut count
# down to the data's. DeepLab does not learn its CRF's weights this way: it picks them by
# cross-validation on held-out images. CRF-as-RNN later learned them by backpropagating
# through the mean-field iterations themselves, approximation included. Further on, learning w
# by backpropagating through mean field: [14_learning_crf.ipynb](14_learning_crf.ipynb).
#
# ## What you saw
#
# * A CRF is a log-linear model: features `phi(x, y)` (unary scores, cut edges) weighted by `w`.
# * Mean field is exact without coupling and close at moderate coupling; as w grows its
#   marginals become more peaked than the true ones, and parallel updates finally oscillate.
# * Learning w matches observed to expected features; mean field's product of marginals
#   biases that expectation and the weight learned from it.
#
# **Next:** [09_grid_crf.ipynb](09_grid_crf.ipynb) — the same mean field on a whole image's
# grid, with a contrast-sensitive pairwise term.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (the CRF on DeepLab's scores, weights set by cross-validation).
# * P. Krähenbühl, V. Koltun. *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials.* NIPS 2011 (mean-field inference with parallel updates).
# * J. Shotton, J. Winn, C. Rother, A. Criminisi. *TextonBoost for Image Understanding:
#   Multi-Class Object Recognition and Segmentation by Jointly Modeling Texture, Layout, and
#   Context.* IJCV 81(1), 2009 (a CRF with a Potts pairwise term on the pixel grid).
# * S. Zheng, S. Jayasumana, B. Romera-Paredes, V. Vineet, Z. Su, D. Du, C. Huang, P. H. S.
#   Torr. *Conditional Random Fields as Recurrent Neural Networks.* ICCV 2015 (learning the
#   CRF through its mean-field iterations).
