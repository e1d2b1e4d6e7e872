# %% [markdown]
# # Lesson 11 — Making it fast: the permutohedral lattice
#
# The mean-field sums are Gaussian filters in feature space. Adams, Baek & Davis (2010) filter
# on the **permutohedral lattice**: embed the d-dimensional features in a lattice of simplices,
#
# 1. **splat** each value onto the d+1 vertices of its simplex (barycentric weights),
# 2. **blur** the vertex values with [1/2, 1, 1/2] along each of the d+1 lattice directions,
# 3. **slice**: read each point back from its vertices with the same weights.
#
# Cost O(N d^2 + M d), linear in the number of pixels, instead of O(N^2).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import Lattice, dense_crf

# In 1-D the lattice is a line of vertices one unit apart (in scaled feature units).
f = np.linspace(0, 6, 13)[:, None]
lat = Lattice(f)
print(lat, "| splat weights of point 1:", lat.barycentric[1], "onto vertices", lat.vertices[1])
imp = np.zeros(400)
g = np.linspace(-5, 5, 400)
imp[200] = 1
resp = Lattice(g[:, None]).filter(imp)
gauss = np.exp(-(g - g[200]) ** 2 / 2)
plt.plot(g, resp, label="splat - blur - slice of an impulse")
plt.plot(g, gauss, "--", label="exp(-x^2 / 2)")
plt.legend(); plt.title("the lattice's kernel (d = 1)"); plt.show()
spread = np.sqrt((resp * (g - g[200]) ** 2).sum() / resp.sum())
print(f"peak {resp.max():.3f}, standard deviation {spread:.2f} (the Gaussian's: 1), "
      f"largest gap to exp(-x^2 / 2): {np.abs(resp - gauss).max():.3f}")
assert np.abs(resp - gauss).max() < 0.1 and 0.8 < spread < 1.2  # a filter that does not blur fails here

# %% [markdown]
# ## Accuracy against the exact sums
#
# 5-D bilateral features of a small image: positions / theta_alpha, colours / theta_beta. The
# values to filter vary across the image (a ramp, a step at the colour edge, some noise), so
# that the weighted averages differ from place to place: a filter that returned the mean
# everywhere would be far off.

# %%
rng = np.random.default_rng(0)
Hs, Ws = 40, 50
img = np.clip(rng.normal(0, 12, (Hs, Ws, 3)) + np.where(np.arange(Ws) < 25, 70, 190)[None, :, None], 0, 255)
yy, xx = np.mgrid[0:Hs, 0:Ws]
feats = np.column_stack([xx.ravel() / 20, yy.ravel() / 20, img.reshape(-1, 3) / 30])
vals = (xx.ravel() / Ws + (img[:, :, 0].ravel() > 130) + 0.1 * rng.uniform(0, 1, Hs * Ws))[:, None]

# %% tags=["solution"]
# Exercise: compute `exact`, the (N, 1) sums  sum_j exp(-|f_i - f_j|^2 / 2) vals_j, with NumPy.
# BEGIN SOLUTION
d2 = ((feats[:, None] - feats[None]) ** 2).sum(-1)
exact = np.exp(-d2 / 2) @ vals
# END SOLUTION

# %%
from scipy.spatial.distance import cdist

K = np.exp(-cdist(feats, feats, "sqeuclidean") / 2)  # the (N, N) kernel, to check `exact`
assert exact.shape == (Hs * Ws, 1) and np.allclose(exact[:, 0], K @ vals[:, 0])
lat = Lattice(feats)
approx = lat.filter(np.hstack([vals, np.ones_like(vals)]))
ones_exact = K.sum(1)
average = exact[:, 0] / ones_exact
err = np.abs(approx[:, 0] / approx[:, 1] - average).max()
err_mean = np.abs(vals.mean() - average).max()  # a "filter" that returns the mean everywhere
print(f"weighted averages: max error {err:.3f} (returning the mean everywhere: {err_mean:.3f})")
assert err < 0.1 * err_mean

# %% [markdown]
# The weighted averages agree; the raw sums do not. The lattice reproduces the Gaussian's
# *shape* but not its *scale*: its splat and slice blur a little themselves, and the
# [1/2, 1, 1/2] passes have their own total weight, so each raw sum comes out multiplied by a
# factor below one that depends on d and on how densely the points fill the lattice (about 0.9
# for d = 2, lower in 5-D). What makes the lattice usable is that the factor is nearly the same
# at every point: dividing by the filtered ones, as the CRF's normalised kernels do
# (``crf.pairwise``), cancels it.

# %%
ratio = approx[:, 1] / ones_exact
print(f"raw sums, lattice / exact: median {np.median(ratio):.2f}, relative spread {ratio.std() / ratio.mean():.3f}")
assert ratio.std() / ratio.mean() < 0.1

# %% [markdown]
# ## Timing: "0.2 s for 50,000 variables"
#
# The paper's claim, for the whole mean-field inference. Exact sums grow as N^2; the lattice
# linearly.

# %%
sizes, t_exact, t_lat = [], [], []
for side in (16, 24, 32, 48, 64):
    im = rng.uniform(0, 255, (side, side, 3)).astype(np.uint8)
    pr = rng.dirichlet(np.ones(5), size=(side, side)).transpose(2, 0, 1)
    dense_crf(im, pr, n_iter=1)
    t = time.perf_counter(); dense_crf(im, pr, n_iter=5, method="exact"); t_exact.append(time.perf_counter() - t)
    t = time.perf_counter(); dense_crf(im, pr, n_iter=5); t_lat.append(time.perf_counter() - t)
    sizes.append(side * side)
big = rng.uniform(0, 255, (200, 250, 3)).astype(np.uint8)
pb = rng.dirichlet(np.ones(5), size=(200, 250)).transpose(2, 0, 1)
t = time.perf_counter(); dense_crf(big, pb, n_iter=5); t_big = time.perf_counter() - t
print(f"lattice, 50,000 variables, 5 labels, 5 iterations: {t_big:.2f} s")
plt.loglog(sizes, t_exact, "o-", label="exact O(N^2)")
plt.loglog(sizes + [50000], t_lat + [t_big], "s-", label="lattice O(N)")
plt.xlabel("pixels"); plt.ylabel("seconds (5 iterations)"); plt.legend(); plt.show()
# the work per filtered channel, counted: N^2 kernel terms against splat + blur + slice
N = 64 * 64
lat64 = Lattice(np.column_stack([np.mgrid[0:64, 0:64][1].ravel() / 60, np.mgrid[0:64, 0:64][0].ravel() / 60,
                                 rng.uniform(0, 255, (N, 3)) / 13]))
lattice_ops = 2 * N * (lat64.dim + 1) + 3 * lat64.n_vertices * (lat64.dim + 1)
print(f"N = {N}: exact {N * N:,} terms, lattice {lattice_ops:,} ({N * N / lattice_ops:.0f}x fewer)")
assert N * N > 20 * lattice_ops
