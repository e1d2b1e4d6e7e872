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
# ## Splat, blur, slice on a 2-D lattice
#
# In d = 2 the lattice's vertices form a triangular grid (in the scaled feature units), and each
# point lies in one triangle. ``Lattice`` exposes what the filter needs:
#
# - ``vertices`` (N, d+1): the vertices of each point's triangle (rows of the value array),
# - ``barycentric`` (N, d+1): the point's weights on them, non-negative and summing to one,
# - ``neighbors`` (d+1, M, 2): the two neighbours of each vertex along each lattice direction
#   (M, a row kept at zero, where that neighbour does not exist),
# - ``alpha``: the scale applied after slicing.
#
# Only vertices that some point touches exist (the lattice is a hash table of them, M <= N (d+1)):
# the work follows the data, not the volume of feature space. With those four, the filter is a
# few lines of NumPy. Ten points in two clusters, value 1 on the left cluster and 0 on the right:

# %%
rng = np.random.default_rng(3)
pts = np.vstack([rng.normal((1.0, 1.2), 0.45, (5, 2)), rng.normal((3.0, 2.0), 0.45, (5, 2))])
val = np.r_[np.ones(5), np.zeros(5)]
lat2 = Lattice(pts)
V, B, M = lat2.vertices, lat2.barycentric, lat2.n_vertices
print(lat2, "| point 0 splats onto vertices", V[0], "with weights", B[0].round(3))

A = np.zeros(M + 1)                                  # one value per vertex; row M stays 0
np.add.at(A, V.ravel(), (B * val[:, None]).ravel())  # splat: value * weight onto each corner
splatted = A.copy()
for j in range(lat2.dim + 1):                        # blur: [1/2, 1, 1/2] along direction j
    left, right = lat2.neighbors[j].T
    A[:M] = A[:M] + 0.5 * (A[left] + A[right])
blurred = A.copy()
sliced = lat2.alpha * (B * A[V]).sum(1)              # slice: read the corners back, same weights
print("sliced:        ", sliced.round(3))
print("Lattice.filter:", lat2.filter(val).round(3))
assert np.allclose(sliced, lat2.filter(val), atol=1e-5)
assert 0 < sliced[5:].max() < sliced[:5].min()       # the right cluster gets a smaller share


def vertex_positions(lattice, points, step=0.1):
    """(M, 2) positions in feature space of the vertices of ``lattice`` (built on ``points``).

    The lattice stores no coordinates, only which corners each point splats onto. But a point is
    the barycentric average of its triangle's corners, f_i = sum_s b_is v_(m_is): a dense cloud
    of probe points around ``points`` pins the corners down by least squares.
    """
    lo, hi = points.min(0) - 1.5, points.max(0) + 1.5
    grid = np.stack(np.meshgrid(*[np.arange(a, b, step) for a, b in zip(lo, hi)]), -1).reshape(-1, 2)
    f = np.vstack([points, grid])                    # the points first: same rows, same corners
    probe = Lattice(f)
    S = np.zeros((probe.n_points, probe.n_vertices))  # f = S @ positions
    np.add.at(S, (np.repeat(np.arange(probe.n_points), probe.dim + 1), probe.vertices.ravel()),
              probe.barycentric.ravel())
    pos = np.linalg.lstsq(S, f, rcond=None)[0]
    assert np.abs(S @ pos - f).max() < 1e-3          # every point is the average of its corners
    out = np.zeros((lattice.n_vertices, 2))
    out[lattice.vertices] = pos[probe.vertices[:len(points)]]
    return out


pos = vertex_positions(lat2, pts)
fig, ax = plt.subplots(1, 3, figsize=(17, 5.2))
for a, title in zip(ax, ["1. splat", "2. blur", "3. slice"]):
    for j in range(lat2.dim + 1):                    # the lattice's edges between existing vertices
        for m, n in enumerate(lat2.neighbors[j, :, 1]):
            if n < M:
                a.plot(*pos[[m, n]].T, color="0.8", lw=1, zorder=0)
    a.set_aspect("equal"); a.set_title(title); a.set_xlabel("feature 1"); a.set_ylabel("feature 2")
for i in range(len(pts)):                            # splat: one line per corner, width = weight
    for s in range(lat2.dim + 1):
        ax[0].plot(*np.stack([pts[i], pos[V[i, s]]]).T, color="C0", lw=4 * B[i, s], alpha=0.6, zorder=1)
ax[0].scatter(*pts.T, c=val, cmap="viridis", vmin=0, vmax=1, edgecolor="k", s=45, zorder=3)
for a, vv in ((ax[0], splatted), (ax[1], blurred)):
    sc = a.scatter(*pos.T, c=vv[:M], cmap="magma", s=180, marker="h", edgecolor="k", zorder=2)
    for m in range(M):
        a.annotate(f"{vv[m]:.2f}", pos[m], fontsize=7, ha="center", xytext=(0, 9), textcoords="offset points")
    plt.colorbar(sc, ax=a, shrink=0.8)
sc = ax[2].scatter(*pts.T, c=sliced, cmap="magma", edgecolor="k", s=60, zorder=3)
for i in range(len(pts)):
    ax[2].annotate(f"{sliced[i]:.2f}", pts[i], fontsize=7, ha="center", xytext=(0, 7), textcoords="offset points")
plt.colorbar(sc, ax=ax[2], shrink=0.8)
plt.show()

# %% [markdown]
# Left: each point (yellow: value 1, purple: 0) sends its value to its triangle's three corners,
# the thicker line to the nearer corner. Middle: after the blur, the corners near the left cluster
# have passed part of their value to their neighbours along the three lattice directions, and some
# of it has reached the right cluster's corners. Right: each point reads its corners back; the
# right cluster now holds a small, distance-weighted share of the left cluster's values, which is
# what a Gaussian filter does. (Blur mass sent towards a vertex that does not exist is dropped:
# one reason the raw sums come out a little small, see below.)

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
# factor below one that depends on d and on how densely the points fill the lattice (below:
# 0.84 for these pixels' positions alone, d = 2, and 0.57 with their colours, d = 5). What makes
# the lattice usable is that the factor is nearly the same at every point: dividing by the
# filtered ones, as the CRF's normalised kernels do (``crf.pairwise``), cancels it.

# %%
ratio = approx[:, 1] / ones_exact
ratio2 = Lattice(feats[:, :2]).filter(np.ones(Hs * Ws)) / np.exp(-cdist(feats[:, :2], feats[:, :2], "sqeuclidean") / 2).sum(1)
print(f"raw sums, lattice / exact (d = 5): median {np.median(ratio):.2f}, relative spread {ratio.std() / ratio.mean():.3f}")
print(f"the same with the positions alone (d = 2): median {np.median(ratio2):.2f}")
assert ratio.std() / ratio.mean() < 0.1 and np.median(ratio) < np.median(ratio2) < 1

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

# %% [markdown]
# ## What you saw
#
# - The lattice filter is three steps: splat each value onto the d+1 corners of its simplex with
#   barycentric weights, blur with [1/2, 1, 1/2] along the d+1 lattice directions, slice back with
#   the same weights; you rebuilt it in NumPy from ``Lattice``'s properties.
# - In 1-D its kernel is close to exp(-x^2 / 2); in 5-D its weighted averages match the exact
#   Gaussian filter, while its raw sums are scaled by a nearly constant factor that the CRF's
#   normalisation cancels.
# - Its cost grows linearly with the number of pixels, against N^2 for the exact sums.
#
# **Next:** [12_grid_vs_dense_msrc.ipynb](12_grid_vs_dense_msrc.ipynb) — the grid CRF and the
# fully connected CRF side by side on MSRC-21, on a DCNN's unaries: accuracy, boundaries, time.
#
# ## References
#
# * A. Adams, J. Baek, M. A. Davis. *Fast High-Dimensional Filtering Using the Permutohedral
#   Lattice.* Computer Graphics Forum 29(2), Eurographics 2010 (splat, blur, slice; the lattice
#   and its cost).
# * P. Krähenbühl, V. Koltun. *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials.* NIPS 2011 (mean field's message passing as Gaussian filtering with the lattice;
#   the layout and the scale alpha used here).
