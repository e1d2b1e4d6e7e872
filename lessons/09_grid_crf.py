# %% [markdown]
# # Lesson 9 — The grid CRF
#
# Before DeepLab, the usual way to clean up a per-pixel classifier was a CRF on the pixel grid
# (TextonBoost, Shotton et al. 2009; GrabCut): a unary $U_i(l) = -\log P_i(l)$ per pixel, and a
# Potts term between 4- (or 8-) neighbours that charges $w_{ij}$ when their labels differ,
#
# $$E(x) = \sum_i U_i(x_i) + \sum_{(i,j)\ \text{neighbours}} [x_i \ne x_j]\, w_{ij}, \qquad
# w_{ij} = \frac{w_\text{smooth} + w_\text{contrast}\,\exp(-\beta\,|I_i - I_j|^2)}{|p_i - p_j|},$$
#
# with $\beta = 1 / (2\langle |I_i - I_j|^2 \rangle)$ over the image's edges. The constant part
# smooths; the *contrast-sensitive* part makes a label change cheap where the colour changes, so
# boundaries snap to image edges. ``minideeplab.crf.grid_crf`` runs mean field on it (not graph
# cuts): every pixel at once,
#
# $$Q_i(l) \propto \exp\Big(-U_i(l) + \sum_{j \in N(i)} w_{ij}\, Q_j(l)\Big).$$
#
# Local interactions clean up noise, but strong smoothing charges every boundary pixel, so small
# and thin objects are erased: the **shrinking bias**.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf, grid_crf
from minideeplab.crf.grid import edge_weights
from minideeplab.datasets import MSRCSamples, SyntheticScenes, noisy_probs, thin_line_scene
from minideeplab.metrics import boundary_band
from minideeplab.viz import show_rows

image, truth = SyntheticScenes(1, (96, 128), 4, objects=(3, 4), seed=5, radius=(0.1, 0.25))[0]
# a noisy classifier: softmax(1.5 * onehot(truth) + N(0, 1) noise)
probs = noisy_probs(truth, 4, strength=1.5, noise=1.0, rng=np.random.default_rng(0))
acc = lambda q, where=None: (q.argmax(0) == truth)[... if where is None else where].mean()

# %% [markdown]
# ## Where a label change is cheap
#
# The edge weights of 8-connected edges with w_smooth = 0.5 and w_contrast = 2: per pixel, the
# smaller weight of its right and lower edges. Between identical colours an edge costs
# w_smooth + w_contrast = 2.5; this image is noisy, so inside a region the weights range from
# about 1 to 2.5. Across an object's outline, an edge costs about w_smooth = 0.5.

# %%
ws, beta = edge_weights(image, connectivity=8, w_smooth=0.5, w_contrast=2.0)
cheapest = np.minimum(ws[0][:-1], ws[1][:, :-1])  # (H-1, W-1): right edge, lower edge
fig, ax = plt.subplots(1, 3, figsize=(12, 3))
ax[0].imshow(image); ax[0].set_title("image")
ax[1].imshow(truth); ax[1].set_title("truth")
im = ax[2].imshow(cheapest, cmap="magma"); ax[2].set_title(f"edge weight, beta = {beta:.1e}")
plt.colorbar(im, ax=ax[2])
for a in ax:
    a.axis("off")
plt.show()

# %% [markdown]
# ## Cleaning up a noisy classifier
#
# Ten mean-field iterations at three strengths w (w_contrast = w, w_smooth = w / 4).

# %%
print(f"unary alone: {acc(probs):.3f}")
results = {}
for w in (0.5, 2.0, 8.0):
    results[w] = grid_crf(image, probs, n_iter=10, connectivity=8, w_smooth=w / 4, w_contrast=w)
    print(f"grid CRF, w_contrast={w}: {acc(results[w]):.3f}")
show_rows([[image, truth, probs.argmax(0)] + [results[w].argmax(0) for w in results]],
          ["image", "truth", "unary"] + [f"grid, w={w}" for w in results])
plt.show()
assert acc(results[2.0]) > acc(probs) + 0.1  # the pairwise term removes most of the noise

# %% [markdown]
# Does the contrast term earn its place? Compare with plain Potts (w_contrast = 0) of the same
# average edge weight, and score the pixels within 2 pixels of an object's outline, where the two
# differ.

# %%
band = boundary_band(truth, 2)
w_mean = float(np.mean(np.concatenate([ws[0].ravel(), ws[1].ravel()])))  # the edges' average weight
plain = grid_crf(image, probs, n_iter=10, connectivity=8, w_smooth=w_mean, w_contrast=0.0)
print(f"plain Potts with w_smooth = {w_mean:.2f}")
print(f"within 2 px of a boundary ({band.mean():.0%} of the pixels): unary {acc(probs, band):.3f}, "
      f"plain Potts {acc(plain, band):.3f}, contrast-sensitive {acc(results[2.0], band):.3f}")
print(f"elsewhere: plain Potts {acc(plain, ~band):.3f}, contrast-sensitive {acc(results[2.0], ~band):.3f}")
# measured: 0.999 against 0.976 (0.968 to 0.977 for any plain weight from 1 to 2.5); with the
# contrast term's sign inverted (a change costing the most across an image edge) it falls to 0.85
assert acc(results[2.0], band) > acc(plain, band) + 0.015

# %% [markdown]
# Both are perfect away from the boundaries; near them, plain Potts rounds the corners and cuts
# across them where the noise says so, while the contrast-sensitive CRF follows the image edges.
#
# ## The shrinking bias
#
# A 1-pixel line whose classifier is only 60% sure, on a background where it says 20%. With 8
# neighbours, a line pixel has two neighbours on the line and six off it: keeping it labelled
# "line" costs six edges, switching it to background costs two. Every line pixel faces the same
# bargain, so mean field erases the line, even though the classifier was right on all of it.

# %%
img, line, p = thin_line_scene()  # 40x60, the line at row 20; P(line) = 0.6 on it, 0.2 off it

# %% tags=["solution"]
# Exercise: run the grid CRF (8-connected, w_smooth=1, no contrast term, 10 iterations) on
# (img, p) and store the fraction of line pixels it still labels 1 in `kept`.
# BEGIN SOLUTION
q = grid_crf(img, p, n_iter=10, connectivity=8, w_smooth=1.0, w_contrast=0.0)
kept = (q.argmax(0) == 1)[line].mean()
# END SOLUTION

# %%
print(f"line pixels kept by the grid CRF: {kept:.0%}")
assert kept < 0.1

# %% [markdown]
# The contrast term softens this (an edge along the line, same colour, costs more than one across
# it): lesson 10 compares the grid and the fully connected CRF on this line with the same cues.
#
# ## How fast? The slides' numbers beside ours
#
# The grid CRF slide quotes "1 second for 50,000 variables"; the fully connected CRF slide quotes
# "0.2 s" for Krähenbühl & Koltun's mean field with the permutohedral lattice, against "36 hours"
# for MCMC sampling in the same fully connected model. Ours, on a 213x235 crop (50,055 pixels) of
# an MSRC image with its 21 labels, 10 mean-field iterations each:

# %%
msrc_image, msrc_label = MSRCSamples()[0]
crop = np.ascontiguousarray(msrc_image[:, :235])
crop_probs = noisy_probs(msrc_label[:, :235], 21, strength=1.5, noise=1.0, rng=np.random.default_rng(0),
                         dtype=np.float32)
grid_crf(crop, crop_probs, n_iter=1); dense_crf(crop, crop_probs, n_iter=1)  # compile, warm up
t = time.perf_counter(); grid_crf(crop, crop_probs, n_iter=10, connectivity=8); t_grid = time.perf_counter() - t
t = time.perf_counter(); dense_crf(crop, crop_probs, n_iter=10); t_dense = time.perf_counter() - t
n = crop.shape[0] * crop.shape[1]
print(f"{n:,} variables, 21 labels: grid CRF {t_grid:.2f} s, fully connected CRF {t_dense:.2f} s")
times = {"grid CRF (slide)": 1.0, "grid CRF, ours (mean field)": t_grid,
         "fully connected, K&K (slide)": 0.2, "fully connected, ours (lattice)": t_dense,
         "fully connected, MCMC (slide)": 36 * 3600.0}
plt.figure(figsize=(8, 2.6))
plt.barh(list(times), list(times.values()), color=["gray", "C0", "gray", "C1", "gray"])
plt.xscale("log"); plt.xlabel("seconds per image (~50,000 variables)"); plt.gca().invert_yaxis(); plt.show()

# %% [markdown]
# Read these with care. The grid slide's second is for finding the grid CRF's minimum-energy
# labelling with move-making algorithms such as alpha-expansion (each move solves a min-cut over
# all 50,000 variables, and several moves are needed). Ours is ten mean-field passes, each a
# handful of multiply-adds per pixel, neighbour and label, in compiled code on today's CPU: a
# different algorithm, which gives approximate marginals rather than a minimum-energy labelling. The fully connected numbers are closer in
# kind: the same mean field and the same lattice, here on this machine's cores. Sampling the
# fully connected model directly visits all 50,000 partners of every pixel it resamples, over many
# sweeps: the N^2 wall that the lattice removes.
#
# ## References
#
# - J. Shotton, J. Winn, C. Rother, A. Criminisi, *TextonBoost for Image Understanding: Multi-Class
#   Object Recognition and Segmentation by Jointly Modeling Texture, Layout, and Context*, IJCV 2009:
#   the contrast-sensitive grid CRF.
# - P. Krähenbühl, V. Koltun, *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials*, NIPS 2011: the fully connected CRF, its 0.2 s and the MCMC comparison.
# - A. Adams, J. Baek, M. A. Davis, *Fast High-Dimensional Filtering Using the Permutohedral
#   Lattice*, Eurographics 2010: the filter that makes it fast (lesson 11).
#
# ## What you saw
#
# - Mean field on the grid CRF removes a noisy classifier's speckle; the contrast term keeps the
#   boundaries on the image's edges, which plain Potts does not.
# - Strong local smoothing erases thin structures the classifier had right: the shrinking bias.
# - On ~50,000 pixels, our grid CRF and fully connected CRF both take a fraction of a second.
#
# Next: [Lesson 10 — the fully connected CRF](10_dense_crf_naive.ipynb)
# (`lessons/10_dense_crf_naive.py`).
