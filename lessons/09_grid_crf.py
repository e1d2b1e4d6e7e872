# %% [markdown]
# # Lesson 9 — The grid CRF
#
# Pairwise terms only between 4- (or 8-) neighbours, contrast-sensitive (cheaper to cut along
# image edges):
#
# $$w_{ij} = w_\text{smooth} + w_\text{contrast}\,\exp(-\beta\,|I_i - I_j|^2).$$
#
# Local interactions clean up noise, but strong smoothing costs every boundary pixel, so small
# and thin objects are erased: the **shrinking bias**.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import grid_crf
from minideeplab.datasets import SyntheticScenes, noisy_probs, thin_line_scene
from minideeplab.viz import show_rows

image, truth = SyntheticScenes(1, (96, 128), 4, objects=(3, 4), seed=5, radius=(0.1, 0.25))[0]
# a noisy classifier: softmax(1.5 * onehot(truth) + N(0, 1) noise)
probs = noisy_probs(truth, 4, strength=1.5, noise=1.0, rng=np.random.default_rng(0))
acc = lambda q: (q.argmax(0) == truth).mean()
print(f"unary alone: {acc(probs):.3f}")
results = {}
for w in (0.5, 2.0, 8.0):
    results[w] = grid_crf(image, probs, n_iter=10, connectivity=8, w_smooth=w / 4, w_contrast=w)
    print(f"grid CRF, w_contrast={w}: {acc(results[w]):.3f}")
show_rows([[image, truth, probs.argmax(0)] + [results[w].argmax(0) for w in results]],
          ["image", "truth", "unary"] + [f"grid, w={w}" for w in results])
plt.show()
assert acc(results[2.0]) > acc(probs) + 0.1

# %% [markdown]
# ## The shrinking bias
#
# A 1-pixel line whose classifier is only 60% sure. Each line pixel has two neighbours on the
# line and six off it: every one of them pays for a label change.

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
