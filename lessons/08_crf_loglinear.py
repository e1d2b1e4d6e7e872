# %% [markdown]
# # Lesson 8 — CRFs as log-linear models
#
# A conditional random field scores a whole labelling y of an image x:
#
# $$p(y \mid x, w) = \frac{\exp\langle w, \phi(x, y)\rangle}{Z(x, w)} = \frac{\exp(-E(y))}{Z},\qquad
# E(y) = \sum_i U_i(y_i) + \sum_{(i,j)} w\,[y_i \ne y_j].$$
#
# Unary terms say what each pixel looks like (U = -log P from a classifier); pairwise terms
# say that neighbours agree. Z sums over all L^N labellings: fine for a 3x3 image with 2
# labels (512 labellings), hopeless for a real one. **Mean field** approximates p by a product
# of per-pixel distributions Q_i, updated in parallel:
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
print("exact p(y_ij = 1):\n", exact[1].round(3), "\nmean field Q_ij(1):\n", mf[1].round(3))
assert np.abs(mf - exact).max() < 0.1  # a good approximation at this coupling

# %% [markdown]
# ## Stronger coupling
#
# Mean field ignores correlations between pixels; as the pairwise weight grows it becomes
# overconfident (it "decides" on one mode while the true marginals stay spread).

# %%
ws = np.linspace(0, 2.5, 11)
gap = []
for wv in ws:
    w = wv
    Ew = np.array([energy(y) for y in labellings])
    pw = np.exp(-(Ew - Ew.min())); pw /= pw.sum()
    ex1 = sum(p * (y == 1) for p, y in zip(pw, labellings))
    q = grid_crf(np.zeros((H, W, 1)), P, n_iter=50, connectivity=4, w_smooth=wv, w_contrast=0.0)
    gap.append(np.abs(q[1] - ex1).max())
plt.plot(ws, gap, "o-"); plt.xlabel("pairwise weight w"); plt.ylabel("max |Q - exact marginal|"); plt.show()
assert gap[0] < 1e-6  # no coupling: mean field is exact
