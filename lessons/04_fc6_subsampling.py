# %% [markdown]
# # Lesson 4 — Explicit control of the receptive field
#
# VGG-16's fc6 is a 7x7 convolution on pool5 (stride 32). DeepLab removes the last two
# subsamplings (stride 8) and keeps fc6's field of view with **dilation**: a 7x7 kernel with
# dilation 4 covers what it covered at stride 32. Cheaper: **decimate** fc6 to 4x4 or 3x3 taps
# and raise the dilation (the "input stride"). The paper's table, recomputed:

# %%
import time

import numpy as np

from minideeplab.models import VARIANTS, DeepLab, paper_rf_size, receptive_field

PAPER_PARAMS = {"DeepLab-7x7": 134.3, "DeepLab": 65.1, "DeepLab-4x4": 65.1, "DeepLab-LargeFOV": 20.5}
rows = []
x = np.random.default_rng(0).standard_normal((1, 3, 161, 161)).astype(np.float32)
for name in PAPER_PARAMS:
    k, dil, ch = VARIANTS[name]
    full = DeepLab(name, 21, width=1.0).num_params()
    small = DeepLab(name, 21, width=1 / 4).eval()
    small.forward(x)
    t = time.perf_counter()
    for _ in range(2):
        small.forward(x)
    rows.append((name, k, dil, paper_rf_size(k, dil), full / 1e6, (time.perf_counter() - t) / 2))
t7 = rows[0][-1]
print(f"{'model':18s} {'kernel':>6s} {'input stride':>12s} {'RF':>4s} {'params':>8s} {'speed vs 7x7':>12s}")
for name, k, dil, rf, p, t in rows:
    print(f"{name:18s} {k}x{k:<4d} {dil:12d} {rf:4d} {p:7.1f}M {t7 / t:11.2f}x")

# %% [markdown]
# Parameters are exact (the paper's column at width 1.0); speed is measured here at a quarter
# of the width on a 161x161 input, so only the ratios mean anything. The same table as a
# picture, and what the taps of each fc6 look like on pool5's grid (one square per position
# at stride 8; the field each setting covers):

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
names = [r[0] for r in rows]
ax[0].bar(names, [r[4] for r in rows], color="tab:blue")
ax[0].set_ylabel("parameters (M, width 1.0)")
ax[1].bar(names, [t7 / r[5] for r in rows], color="tab:green")
ax[1].set_ylabel("speed vs DeepLab-7x7 (width 1/4)")
for a in ax[:2]:
    a.tick_params(axis="x", labelrotation=20, labelsize=8)
for size, (name, k, dil, rf, p, t) in zip([90, 50, 25, 10], rows):  # smaller markers on top
    offs = (np.arange(k) - (k - 1) / 2) * dil
    yy, xx = np.meshgrid(offs, offs, indexing="ij")
    ax[2].scatter(xx.ravel(), yy.ravel(), s=size, label=f"{name}: {k}x{k}, dilation {dil}")
ax[2].set_aspect("equal")
ax[2].set_title("fc6 taps on pool5 (stride-8 cells)", fontsize=9)
ax[2].legend(fontsize=7, loc="upper right", bbox_to_anchor=(1.9, 1.0))
fig.tight_layout()
plt.show()

# %% tags=["solution"]
# Exercise: count fc6's parameters (weights + biases) of DeepLab-LargeFOV by hand:
# 3x3 taps, 512 input channels (pool5), 1024 filters.
# BEGIN SOLUTION
fc6_params = 3 * 3 * 512 * 1024 + 1024
# END SOLUTION

# %%
m = DeepLab("DeepLab-LargeFOV", 21)
assert fc6_params == m.params["fc6.weight"].size + m.params["fc6.bias"].size
for name, k, dil, rf, p, t in rows:
    assert round(p, 1) == PAPER_PARAMS[name], name
assert [r[3] for r in rows] == [224, 128, 224, 224]  # the paper's "RF size" column
# the work of fc6 + fc7 per output position, in multiply-adds (the timings above vary with the machine)
macs = {name: k * k * 512 * ch + ch * ch for name, (k, dil, ch) in VARIANTS.items()}
assert macs["DeepLab-LargeFOV"] < macs["DeepLab"] < macs["DeepLab-7x7"]
print({name: f"{m / 1e6:.1f}M MACs" for name, m in macs.items() if name in PAPER_PARAMS})
