# %% [markdown]
# # Lesson 10 — The fully connected CRF
#
# Krähenbühl & Koltun (NIPS 2011) connect **every pair of pixels**, with Gaussian edge potentials
#
# $$k(f_i, f_j) = w_1 \exp\Big(-\frac{|p_i-p_j|^2}{2\theta_\alpha^2} - \frac{|I_i-I_j|^2}{2\theta_\beta^2}\Big)
# + w_2 \exp\Big(-\frac{|p_i-p_j|^2}{2\theta_\gamma^2}\Big),$$
#
# an *appearance* (bilateral) kernel: pixels of similar colour should agree, up to theta_alpha
# pixels apart; and a *smoothness* kernel: nearby pixels should agree, whatever their colour.
# Mean field needs, per iteration, the sums $\sum_j k(f_i, f_j) Q_j(l)$ for every pixel i: N^2
# terms. Here we compute them naively (``method="exact"``) on lesson 9's thin line, 40x60 = 2,400
# pixels and 5.8 million pairs; lesson 11 makes them fast.
#
# Lesson 9 ended with the grid CRF erasing that line (the shrinking bias). Does connecting every
# pair of pixels keep it, and if so, what exactly keeps it?

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf, grid_crf
from minideeplab.datasets import thin_line_scene

img, line, p = thin_line_scene()  # lesson 9's 1-pixel line: P(line) = 0.6 on it, 0.2 off it
H, W = line.shape


def kept(q, where=line):
    """The fraction of the pixels `where` that the CRF labels "line" (label 1)."""
    return float((q.argmax(0) == 1)[where].mean())


# Krähenbühl & Koltun's weights for MSRC (pydensecrf's examples use them too)
MSRC = dict(w_bilateral=10.0, theta_alpha=80.0, theta_beta=13.0, w_gaussian=3.0, theta_gamma=3.0)

# %% [markdown]
# ## Like with like: both CRFs at the library's defaults
#
# Both models get the same cues: the unary and the colours. The grid CRF uses colour in its
# contrast term (``grid_crf``'s defaults: 4-connected, w_smooth = 1, w_contrast = 3), the dense
# CRF in its appearance kernel (``dense_crf``'s defaults: DeepLab's values, cross-validated on
# VOC: w1 = 4, theta_alpha = 121, theta_beta = 5, w2 = 3, theta_gamma = 3). Beside them: the grid
# CRF with 8 neighbours, and the dense CRF with Krähenbühl & Koltun's MSRC weights (w1 = 10,
# theta_alpha = 80, theta_beta = 13, the same smoothness kernel).

# %%
runs = {"grid, defaults (4 neighbours)": grid_crf(img, p),
        "grid, 8 neighbours": grid_crf(img, p, connectivity=8)}
t = time.perf_counter()
runs["dense, defaults (DeepLab's)"] = dense_crf(img, p, method="exact")
print(f"exact mean field on {H * W} pixels, 10 iterations: {time.perf_counter() - t:.2f} s")
runs["dense, K&K's MSRC weights"] = dense_crf(img, p, method="exact", **MSRC)
fig, ax = plt.subplots(1, 5, figsize=(15, 2.3))
ax[0].imshow(p[1], vmin=0, vmax=1); ax[0].set_title("unary P(line)")
for a, (name, q) in zip(ax[1:], runs.items()):
    a.imshow(q[1], vmin=0, vmax=1); a.set_title(f"{name}\nQ(line); line kept {kept(q):.0%}", fontsize=9)
for a in ax:
    a.axis("off")
plt.show()

# %% [markdown]
# Neither model is immune at its defaults. The 4-connected grid CRF keeps most of the line, thanks
# to its contrast term: an edge along the line (same colour) costs w_smooth + w_contrast = 4 to
# cut, an edge across it (very different colours) about w_smooth = 1, and a line pixel has two of
# each. With 8 neighbours, six of them off the line, the grid CRF erases it. The dense CRF at
# DeepLab's defaults erases it too; with the MSRC weights it keeps all of it. "No shrinking bias"
# is not a property of full connectivity alone: it depends on the balance of the two kernels. To
# see why, look at whom each kernel lets a line pixel listen to.
#
# ## What keeps the line: whom a line pixel listens to
#
# In the update, pixel i's message for label l is (up to the normalisation) the kernel-weighted
# average of the other pixels' beliefs $Q_j(l)$, weighted by the kernel's row $k(f_i, \cdot)$.
# Here are those rows for a pixel in the middle of the line.

# %%
yy, xx = np.mgrid[0:H, 0:W]
pos, colour = np.stack([yy, xx], -1).astype(float), img.astype(float)
i = (20, 30)  # a line pixel


def kernel_row(theta_xy, theta_rgb=None):
    """k(f_i, f_j) for every pixel j: a Gaussian of the distance, times one of the colour difference."""
    d2 = ((pos - pos[i]) ** 2).sum(-1) / (2 * theta_xy ** 2)
    if theta_rgb is not None:
        d2 = d2 + ((colour - colour[i]) ** 2).sum(-1) / (2 * theta_rgb ** 2)
    return np.exp(-d2)


rows = {"smoothness kernel (theta_gamma = 3)": kernel_row(3.0),
        "appearance kernel (theta_alpha = 80, theta_beta = 13)": kernel_row(80.0, 13.0),
        "the same Gaussian on positions only (80)": kernel_row(80.0)}
fig, ax = plt.subplots(1, 3, figsize=(14, 2.6))
for a, (name, k) in zip(ax, rows.items()):
    share = k[line].sum() / k.sum()
    a.imshow(k / k.max(), cmap="magma"); a.set_title(f"{name}\n{share:.0%} of its weight on the line", fontsize=9)
    a.axis("off")
plt.show()

# %% [markdown]
# The smoothness kernel's weight around a line pixel lies mostly (87%) off the line: it pulls the
# pixel towards the background's label with a strength that grows with w2. The appearance kernel
# puts *all* its weight on pixels of the line's colour, i.e. on the line, near or far: it pulls
# the pixel towards the line's own average belief, with a strength that grows with w1. The same
# Gaussian without its colour term spreads over the whole image, 98% background. So the line
# survives when w1 is large enough against w2, and only if the appearance kernel sees colour.
# Sweep w1 with the smoothness kernel fixed (w2 = 3), with the colour term and without it
# (theta_beta = 1e5: a difference of 255 levels becomes negligible). The sweep uses the default
# ``method="lattice"`` (lesson 11): the same labels here, many times faster.

# %%
w1s = [0, 2, 4, 6, 8, 10, 12, 15, 20, 30]
with_colour = [kept(dense_crf(img, p, **dict(MSRC, w_bilateral=w))) for w in w1s]
positions_only = [kept(dense_crf(img, p, **dict(MSRC, w_bilateral=w, theta_beta=1e5))) for w in w1s]
plt.figure(figsize=(6, 3))
plt.plot(w1s, with_colour, "o-", label="appearance kernel (colour)")
plt.plot(w1s, positions_only, "s--", label="positions only (no colour)")
plt.xlabel("w1 (w2 = 3)"); plt.ylabel("fraction of the line kept"); plt.legend(); plt.show()
smallest = min((w for w, k in zip(w1s, with_colour) if k > 0.9), default="(never)")
print(f"the line survives from w1 = {smallest} on (w2 = 3); smoothness kernel alone (w1 = 0): "
      f"{with_colour[0]:.0%} kept; positions only: at most {max(positions_only):.0%}")
# the bilateral term keeps the line (measured: 100% from w1 = 10 on), the smoothness kernel alone
# erases it (0%), and so does the appearance kernel without its colour term (0% at every w1)
assert all(k > 0.9 for w, k in zip(w1s, with_colour) if w >= 10)
assert with_colour[w1s.index(10)] - with_colour[0] > 0.8 and max(positions_only) < 0.1

# %% [markdown]
# DeepLab's defaults (w1 = 4) lie below the threshold, the MSRC weights (w1 = 10) just above it.
#
# ## Long range: a stretch the classifier gets wrong
#
# On the clean line, the range theta_alpha makes no difference: with colour, every pixel the
# kernel reaches, near or far, is a line pixel. Range matters when the classifier is wrong on part
# of the line. Give 12 of its 50 pixels P(line) = 0.4 (the unary prefers background there). A
# short-range appearance kernel (theta_alpha of 1 or 3 pixels) links a pixel of that stretch only
# to its neighbours in the stretch, which are wrong too; a long-range one links it to the whole
# line.

# %%
stretch = np.zeros_like(line)
stretch[20, 24:36] = True
p_gap = p.copy()
p_gap[1][stretch] = 0.4
p_gap[0] = 1 - p_gap[1]
rest = line & ~stretch
thetas = [1.0, 3.0, 10.0, 30.0, 80.0]
gap = {w1: [dense_crf(img, p_gap, **dict(MSRC, w_bilateral=w1, theta_alpha=ta)) for ta in thetas] for w1 in (10.0, 25.0)}
fig, ax = plt.subplots(1, 2, figsize=(12, 3))
for w1, qs in gap.items():
    ax[0].plot(thetas, [kept(q, stretch) for q in qs], "o-", label=f"w1 = {w1:g}")
    ax[1].plot(thetas, [kept(q, rest) for q in qs], "o-", label=f"w1 = {w1:g}")
for a, what in zip(ax, ["the wrong stretch (12 pixels)", "the rest of the line (38 pixels)"]):
    a.set_xscale("log"); a.set_xlabel("theta_alpha (pixels)"); a.set_ylabel("fraction labelled line")
    a.set_title(what); a.legend()
plt.show()
recovered = [kept(q, stretch) for q in gap[25.0]]
print("w1 = 25, stretch recovered by theta_alpha:", dict(zip(thetas, recovered)))
assert min(recovered[2:]) > 0.9 and max(recovered[:2]) < 0.1  # long range recovers it, short range cannot

# %% [markdown]
# With w1 = 25, a kernel reaching 10 pixels or more recovers the whole stretch: its pixels hear the
# 38 confident ones around it. One or three pixels of range never do. But long-range support is
# an *average*: with w1 = 10 the wrong stretch drags the whole line's average belief down and the
# long-range kernels lose the entire line, where the short-range ones at least keep part of the
# rest. A fully connected CRF decides about a uniformly coloured segment as a whole.
#
# ## The three parameters of the appearance kernel side by side
#
# Each row below varies one parameter of the appearance kernel on the line with the wrong
# stretch, the other two held at w1 = 25, theta_alpha = 80, theta_beta = 13 (the smoothness
# kernel as before: w2 = 3, theta_gamma = 3). w1 is how loudly a pixel hears the pixels of its
# colour, theta_alpha how far away (in pixels) it hears them, theta_beta how different a colour
# still counts as its own (a distance in RGB space, in grey levels). The scene has two colours,
# 60 and 230 in every channel: a colour distance of 170 * sqrt(3), about 294.

# %%
base = dict(MSRC, w_bilateral=25.0)
settings = {"w_bilateral": [0.0, 5.0, 10.0, 25.0, 50.0], "theta_alpha": [1.0, 3.0, 10.0, 30.0, 80.0],
            "theta_beta": [3.0, 13.0, 100.0, 300.0, 1e5]}
multiples = {(name, v): dense_crf(img, p_gap, **dict(base, **{name: v}))
             for name, values in settings.items() for v in values}
fig, ax = plt.subplots(3, 5, figsize=(15, 5.2))
for r, (name, values) in enumerate(settings.items()):
    for c, v in enumerate(values):
        q = multiples[name, v]
        ax[r, c].imshow(q[1], vmin=0, vmax=1)
        ax[r, c].set_title(f"{name} = {v:g}\nstretch {kept(q, stretch):.0%}, rest {kept(q, rest):.0%}", fontsize=9)
        ax[r, c].set_xticks([]); ax[r, c].set_yticks([])
    ax[r, 0].set_ylabel(name)
plt.tight_layout(); plt.show()
whole = {name: [kept(multiples[name, v], line) for v in values] for name, values in settings.items()}
print("fraction of the whole line labelled line:", {name: [round(k, 2) for k in ks] for name, ks in whole.items()})
# measured: w1 erases the whole line below 25 and keeps it from 25 on; theta_alpha of 1 or 3
# leaves the stretch wrong (76% and 64% of the line kept) and keeps all of it from 10 on;
# theta_beta keeps it up to 100 and erases it from 300 on, where the kernel sees positions only
assert max(whole["w_bilateral"][:3]) < 0.1 and min(whole["w_bilateral"][3:]) > 0.9
assert max(kept(multiples["theta_alpha", t], stretch) for t in (1.0, 3.0)) < 0.1 and min(whole["theta_alpha"][2:]) > 0.9
assert min(whole["theta_beta"][:3]) > 0.9 and max(whole["theta_beta"][3:]) < 0.1

# %% [markdown]
# The line lives or dies as a whole in the first and last rows, and only theta_alpha splits it:
# a short range leaves the wrong stretch to its own unary. theta_beta does nothing until it nears
# the colour distance between line and background; beyond it the appearance kernel becomes the
# positions-only Gaussian of the sweep above. With ipywidgets installed, the three sliders below
# redraw the result for any combination (on the lattice, each run is quick).

# %%
def show(w1=25.0, theta_alpha=80.0, theta_beta=13.0):
    """The dense CRF on the line with the wrong stretch: Q(line) and the labels."""
    q = dense_crf(img, p_gap, **dict(base, w_bilateral=w1, theta_alpha=theta_alpha, theta_beta=theta_beta))
    fig, ax = plt.subplots(1, 2, figsize=(10, 2.6))
    ax[0].imshow(q[1], vmin=0, vmax=1); ax[0].set_title("Q(line)")
    ax[1].imshow(q.argmax(0), vmin=0, vmax=1, cmap="gray")
    ax[1].set_title(f"labels: stretch {kept(q, stretch):.0%}, rest of the line {kept(q, rest):.0%}")
    for a in ax:
        a.axis("off")
    plt.show()


try:
    from ipywidgets import FloatLogSlider, FloatSlider, interact
except ImportError:
    pass  # no sliders: the small multiples above show the same
else:
    interact(show, w1=FloatSlider(value=25.0, min=0.0, max=60.0, step=1.0),
             theta_alpha=FloatLogSlider(value=80.0, base=10, min=0, max=2.5, step=0.05),
             theta_beta=FloatLogSlider(value=13.0, base=10, min=0, max=5, step=0.05))

# %% [markdown]
# ## One mean-field update by hand
#
# With Potts compatibility and the library's default symmetric normalisation, the update is
#
# $$Q \leftarrow \mathrm{softmax}\big(-U + w_1\, n_1 \odot K_1 (n_1 \odot Q) + w_2\, n_2 \odot K_2 (n_2 \odot Q)\big),
# \qquad n_m = 1 / \sqrt{K_m \mathbf{1}}$$
#
# (up to a per-pixel constant, which the softmax ignores), where $K_m$ are the N x N kernel
# matrices, j = i included as in Krähenbühl's code. The normalisation makes each message roughly
# a weighted average, as above.

# %% tags=["solution"]
# Exercise: on the 12x15 crop below, build K1 (appearance) and K2 (smoothness) as (N, N) arrays
# with the MSRC parameters, and do one update from Q0 = softmax(-U), U = -log(pc); store the
# result as `q1` of shape (L, h, w).
crop, pc = img[14:26, 0:15].astype(float), p[:, 14:26, 0:15]
# BEGIN SOLUTION
h, w = crop.shape[:2]
yy_c, xx_c = np.mgrid[0:h, 0:w]
pos_c = np.column_stack([xx_c.ravel(), yy_c.ravel()]).astype(float)
col_c = crop.reshape(-1, 3)
d2 = lambda a: ((a[:, None] - a[None]) ** 2).sum(-1)
K1 = np.exp(-d2(pos_c) / (2 * 80.0 ** 2) - d2(col_c) / (2 * 13.0 ** 2))
K2 = np.exp(-d2(pos_c) / (2 * 3.0 ** 2))
U = -np.log(pc.reshape(2, -1).T)
Q0 = np.exp(-U) / np.exp(-U).sum(1, keepdims=True)


def message(K, Q):
    n = 1 / np.sqrt(K.sum(1, keepdims=True))
    return n * (K @ (n * Q))


E = -U + 10.0 * message(K1, Q0) + 3.0 * message(K2, Q0)
E -= E.max(1, keepdims=True)
q1 = (np.exp(E) / np.exp(E).sum(1, keepdims=True)).T.reshape(2, h, w)
# END SOLUTION

# %%
ref = dense_crf(img[14:26, 0:15], p[:, 14:26, 0:15], n_iter=1, method="exact", **MSRC)
print("max |yours - library|:", np.abs(q1 - ref).max())
assert q1.shape == ref.shape and np.abs(q1 - ref).max() < 1e-5
# (without the colour term, or without the normalisation, q1 differs from it by more than 0.7)

# %% [markdown]
# ## What you saw
#
# - At the library's defaults both CRFs can erase a 1-pixel line; whether it survives depends on
#   the balance of the appearance kernel (w1) against the smoothness kernel (w2).
# - What keeps it is the appearance kernel's colour term: a line pixel listens to the other pixels
#   of its colour, i.e. to the line. The smoothness kernel, or the same Gaussian without colour,
#   listens mostly to the background and erases the line.
# - Long range (theta_alpha) lets a misclassified stretch be recovered by the rest of the line, and
#   makes the segment live or die as a whole.
# - theta_beta only has to stay below the colour distance between the line and the background;
#   past it the kernel forgets colour and the line goes.
#
# **Next:** [11_permutohedral.ipynb](11_permutohedral.ipynb) — the permutohedral lattice, which
# computes these N^2 sums in linear time.
#
# ## References
#
# - P. Krähenbühl, V. Koltun, *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials*, NIPS 2011: the model, the mean-field update, the MSRC weights used here.
# - L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. Yuille, *Semantic Image Segmentation with
#   Deep Convolutional Nets and Fully Connected CRFs*, ICLR 2015, arXiv:1412.7062: the defaults of
#   ``dense_crf`` (its cross-validated values for PASCAL VOC).
# - J. Shotton, J. Winn, C. Rother, A. Criminisi, *TextonBoost for Image Understanding*, IJCV 2009:
#   the contrast-sensitive grid CRF of lesson 9.
