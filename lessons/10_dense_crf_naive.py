# %% [markdown]
# # Lesson 10 — The fully connected CRF
#
# Krähenbühl & Koltun connect **every pair of pixels**, with Gaussian edge potentials
#
# $$k(f_i, f_j) = w_1 \exp\Big(-\frac{|p_i-p_j|^2}{2\theta_\alpha^2} - \frac{|I_i-I_j|^2}{2\theta_\beta^2}\Big)
# + w_2 \exp\Big(-\frac{|p_i-p_j|^2}{2\theta_\gamma^2}\Big),$$
#
# an *appearance* kernel (nearby pixels of similar colour agree) and a *smoothness* kernel.
# Mean field needs, per iteration, the sums $\sum_j k(f_i, f_j) Q_j(l)$: N^2 terms. Here we
# compute them naively on a small image (``method="exact"``).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf, grid_crf
from minideeplab.datasets import thin_line_scene

img, line, p = thin_line_scene()  # lesson 9's 1-pixel line: P(line) = 0.6 on it, 0.2 off it
H, W = line.shape
kw = dict(w_bilateral=10.0, theta_alpha=60.0, theta_beta=13.0, w_gaussian=3.0, theta_gamma=3.0)
t = time.perf_counter()
q_dense = dense_crf(img, p, n_iter=10, method="exact", **kw)
print(f"exact mean field on {H * W} pixels: {time.perf_counter() - t:.2f} s")
q_grid = grid_crf(img, p, n_iter=10, connectivity=8, w_smooth=1.0, w_contrast=0.0)
print("line kept: dense", (q_dense.argmax(0) == 1)[line].mean(), "| grid", (q_grid.argmax(0) == 1)[line].mean())
fig, ax = plt.subplots(1, 3, figsize=(10, 2.5))
for a, (t_, m) in zip(ax, [("unary P(line)", p[1]), ("grid CRF Q(line)", q_grid[1]), ("dense CRF Q(line)", q_dense[1])]):
    a.imshow(m, vmin=0, vmax=1); a.set_title(t_); a.axis("off")
plt.show()

# %% [markdown]
# Every line pixel is linked to all the others by the appearance kernel (same colour, within
# theta_alpha = 60 pixels): long-range support beats the local boundary cost. No shrinking bias.
#
# ## One mean-field update by hand
#
# With ``normalization="none"`` and Potts compatibility the update is
# $Q \leftarrow \mathrm{softmax}(-U + w_1 K_1 Q + w_2 K_2 Q)$ (up to a per-pixel constant),
# where $K_m$ are the N x N kernel matrices (j = i included, as in Krähenbühl's code).

# %% tags=["solution"]
# Exercise: build K1 (appearance) and K2 (smoothness) as (N, N) arrays for a 12x15 crop and do
# one update from Q0 = softmax(-U); store the result as `q1` of shape (L, h, w).
# BEGIN SOLUTION
crop, pc = img[14:26, 0:15].astype(float), p[:, 14:26, 0:15]
h, w = crop.shape[:2]
yy, xx = np.mgrid[0:h, 0:w]
pos = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
col = crop.reshape(-1, 3)
d2 = lambda a: ((a[:, None] - a[None]) ** 2).sum(-1)
K1 = np.exp(-d2(pos) / (2 * 60.0 ** 2) - d2(col) / (2 * 13.0 ** 2))
K2 = np.exp(-d2(pos) / (2 * 3.0 ** 2))
U = -np.log(pc.reshape(2, -1).T)
Q0 = np.exp(-U) / np.exp(-U).sum(1, keepdims=True)
E = -U + 10.0 * K1 @ Q0 + 3.0 * K2 @ Q0
q1 = (np.exp(E - E.max(1, keepdims=True)) / np.exp(E - E.max(1, keepdims=True)).sum(1, keepdims=True)).T.reshape(2, h, w)
# END SOLUTION

# %%
ref = dense_crf(img[14:26, 0:15], p[:, 14:26, 0:15], n_iter=1, method="exact", normalization="none", **kw)
print("max |yours - library|:", np.abs(q1 - ref).max())
assert np.abs(q1 - ref).max() < 1e-5
