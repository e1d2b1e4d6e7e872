# %% [markdown]
# # Lesson 4 — Explicit control of the receptive field
#
# VGG-16 ends in three "fully connected" layers, which a fully convolutional net runs as
# convolutions: fc6 is a **7x7** convolution on pool5 (stride 32) with **4,096** filters, fc7 a
# 1x1 convolution 4,096 -> 4,096, fc8 the classifier. DeepLab removes the last two
# subsamplings (output stride 8) and keeps fc6's field of view with **dilation**: a 7x7 kernel
# with dilation 4 at stride 8 spaces its taps 32 pixels apart, as at stride 32. That fc6 costs
# 16 times more than VGG's (it runs at 16 times as many positions), so the paper tries cheaper
# heads:
#
# * **decimate** fc6 to 4x4 taps and raise the dilation (the paper's "input stride") from 4 to
#   8 to keep the field of view, or don't (DeepLab, dilation 4: a smaller field);
# * **DeepLab-LargeFOV**: 3x3 taps with dilation 12, *and* fc6 and fc7 cut from 4,096 to
#   **1,024** channels.
#
# The paper's Table 2 compares them (the networks are named DeepLab-CRF-... there because
# the scores are measured after the CRF of lessons 10-13): the accuracy is mean IOU on PASCAL
# VOC 2012 val, the speed is images per second during training, on the authors' GPU.

# %%
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # time on one core, before NumPy loads OpenBLAS (see "Speed")
import minideeplab  # noqa: E402  (before NumPy; sets OpenBLAS's thread timeout)
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab._numba import set_num_threads
from minideeplab.models import VARIANTS, VGG16, DeepLab, paper_rf_size, receptive_field
from minideeplab.nn import Conv2d

set_num_threads(1)
NAMES = ["DeepLab-7x7", "DeepLab", "DeepLab-4x4", "DeepLab-LargeFOV"]
PAPER = {  # Table 2 of arXiv:1412.7062 (the rows DeepLab-CRF-7x7, DeepLab-CRF, DeepLab-CRF-4x4, DeepLab-CRF-LargeFOV)
    #                   kernel, input stride, RF size, params (M), mean IOU (%), training img/s
    "DeepLab-7x7":      (7, 4, 224, 134.3, 67.64, 1.44),
    "DeepLab":          (4, 4, 128, 65.1, 63.74, 2.90),
    "DeepLab-4x4":      (4, 8, 224, 65.1, 67.14, 2.90),
    "DeepLab-LargeFOV": (3, 12, 224, 20.5, 67.64, 4.84),
}
print(f"{'the paper':18s} {'kernel':>6s} {'input stride':>12s} {'RF size':>7s} {'params':>7s} {'mean IOU':>8s} {'img/s':>6s}")
for name, (k, stride, rf, params, miou, speed) in PAPER.items():
    print(f"{name:18s} {k}x{k:<4d} {stride:12d} {rf:7d} {params:6.1f}M {miou:8.2f} {speed:6.2f}")
p7, pl = PAPER["DeepLab-7x7"], PAPER["DeepLab-LargeFOV"]
print(f"LargeFOV against 7x7: the same mean IOU, {pl[5] / p7[5]:.2f}x the training speed, "
      f"{p7[3] / pl[3]:.1f}x fewer parameters")
assert [VARIANTS[n][:2] for n in NAMES] == [PAPER[n][:2] for n in NAMES]  # the library builds these heads

# %% [markdown]
# The large field of view is what buys the accuracy: DeepLab (4x4, input stride 4, "RF 128")
# loses 3.4 points to DeepLab-4x4 (the same kernel and cost, input stride 8, "RF 224"). And
# LargeFOV keeps the 224 at a fraction of the cost.
#
# ## "RF 224" against lesson 3's 404 and 419
#
# Lesson 3 found a receptive field of 404 pixels for VGG-16 and 419 for DeepLab-LargeFOV;
# the paper's column says 224 for both. They measure different things:
#
# * the paper's **"RF size"** counts only **fc6's own span**, in input pixels: its outermost
#   taps are `dilation * (k - 1)` pool5 cells apart at stride 8, plus one 32-pixel cell,
#   `8 * dilation * (k - 1) + 32` (`paper_rf_size`); for VGG-16, 7 cells of 32 pixels, 224,
#   the size of its ImageNet crops;
# * the **theoretical receptive field** (lesson 3's recursion, `receptive_field`) adds what
#   the 13 convolutions and 5 poolings under fc6 already see: every pool5 cell looks at a
#   window of its own (212 pixels in VGG-16, 227 in DeepLab, whose pools are 3x3), and fc6
#   spreads its taps over `8 * dilation * (k - 1)` pixels around it.
#
# So `full RF = RF(pool5) + 8 * dilation * (k - 1)` and `paper's RF = 8 * dilation * (k - 1) + 32`:
# the two differ by the same constant for every head, and rank the variants the same way.

# %%
print(f"{'model':18s} {'pool5 cell':>10s} {'fc6 span':>8s} {'full RF':>7s} {'paper RF':>8s}")
for name in NAMES:
    k, dil, _ = VARIANTS[name]
    rf = {r["layer"]: r for r in receptive_field(DeepLab(name, 21, width=1 / 8))}
    span = rf["fc6"]["rf"] - rf["pool5"]["rf"]
    print(f"{name:18s} {rf['pool5']['rf']:10d} {span:8d} {rf['fc8']['rf']:7d} {paper_rf_size(k, dil):8d}")
    assert rf["fc6"]["dilation"] == dil and rf["pool5"]["jump"] == 8
    assert span == 8 * dil * (k - 1) == paper_rf_size(k, dil) - 32  # fc6's taps, in input pixels
    assert rf["fc8"]["rf"] == rf["fc6"]["rf"] == 227 + span           # fc7, fc8 (1x1) add nothing
    assert paper_rf_size(k, dil) == PAPER[name][2]
vgg = {r["layer"]: r for r in receptive_field(VGG16(width=1 / 8))}
assert vgg["fc8"]["rf"] == 404 == vgg["pool5"]["rf"] + 32 * 6  # VGG-16: 212 + 192; the paper's 224 = 192 + 32
assert receptive_field(DeepLab("DeepLab-LargeFOV", 21, width=1 / 8))[-1]["rf"] == 419  # lesson 3's number

# %% [markdown]
# ## Ours: parameters, work and speed
#
# The parameters are counted on the full-width networks (21 classes), as in the paper. The
# work is counted in multiply-adds of one forward pass on a 321x321 image at full width
# (every convolution: output positions x output channels x input channels x taps). The speed
# is measured: one forward pass of each network at a quarter of the width (fewer channels
# everywhere, the same geometry) on one 321x321 image, the best of five. We time on one
# thread (OpenBLAS and the Numba kernels): on a machine that also runs other work, two
# threads wait for each other and the timings scatter; one thread gives comparable ones.
# The paper's speeds are training speeds on a GPU, so only ratios can be compared.

# %%
def multiply_adds(model, size=321):
    """Multiply-adds of one forward pass on a size x size image, summed over the conv layers."""
    h, total = size, {}
    for layer in model.layers:
        if isinstance(layer, Conv2d):
            (k, _), (s, _), (p, _), (d, _) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
            h = nn.conv_output_size(h, k, s, p, d)
            total[layer.name] = h * h * layer.out_channels * layer.in_channels * k * k
        elif layer.kind == "pool":
            h = nn.pool_output_size(h, layer.kernel_size[0], layer.stride[0], layer.padding[0])
    return total


x = np.random.default_rng(0).standard_normal((1, 3, 321, 321)).astype(np.float32)
ours = {}
for name in NAMES:
    full = DeepLab(name, 21, width=1.0)
    counts = {layer.name: sum(v.size for v in layer.params.values()) for layer in full.layers if layer.params}
    macs = multiply_adds(full)
    del full
    small = DeepLab(name, 21, width=1 / 4).eval()
    small.forward(x)  # warm-up: compiles, allocates
    times = []
    for _ in range(5):
        t = time.perf_counter()
        small.forward(x)
        times.append(time.perf_counter() - t)
    ours[name] = dict(counts=counts, params=sum(counts.values()), macs=sum(macs.values()),
                      head_macs=macs["fc6"] + macs["fc7"] + macs["fc8"], seconds=min(times))
t7, m7 = ours["DeepLab-7x7"]["seconds"], ours["DeepLab-7x7"]["macs"]
print(f"{'ours':18s} {'params':>8s} {'GMACs':>6s} {'of them fc6-8':>13s} {'forward (1/4)':>13s} "
      f"{'speed vs 7x7':>12s} {'paper':>6s}")
for name in NAMES:
    o = ours[name]
    print(f"{name:18s} {o['params'] / 1e6:7.1f}M {o['macs'] / 1e9:6.1f} {o['head_macs'] / o['macs']:12.0%} "
          f"{o['seconds']:12.3f}s {t7 / o['seconds']:11.2f}x {PAPER[name][5] / PAPER['DeepLab-7x7'][5]:5.2f}x")
for name in NAMES:
    assert round(ours[name]["params"] / 1e6, 1) == PAPER[name][3], name  # the paper's column, exactly
lf = ours["DeepLab-LargeFOV"]
assert lf["macs"] < 0.5 * m7                  # LargeFOV: less than half the work of the 7x7 ...
assert t7 / lf["seconds"] > 1.3               # ... and clearly faster (measured; it varies with the machine)
assert ours["DeepLab"]["macs"] == ours["DeepLab-4x4"]["macs"]  # the dilation is free: same taps, same work

# %% [markdown]
# The parameter counts are the paper's to the digit. In work, the 7x7 head is most of the
# network: the 13 convolutions are shared by all four variants, and what differs is fc6-8.
# The measured speed-up of LargeFOV over the 7x7 is smaller than the paper's 3.36x because
# speed is not only multiply-adds (the paper's are training passes, forward and backward,
# on a GPU), but it has the same order: 7x7 slowest, the two 4x4 heads about equal, LargeFOV
# fastest. Dilation costs nothing: DeepLab and DeepLab-4x4 do the same work.

# %%
fig, ax = plt.subplots(1, 4, figsize=(16, 3.4))
xs = np.arange(len(NAMES))
ax[0].bar(xs, [PAPER[n][3] for n in NAMES], color="tab:blue")
ax[0].set_ylabel("parameters (M, full width)")
ax[1].bar(xs - 0.2, [PAPER[n][5] / PAPER["DeepLab-7x7"][5] for n in NAMES], 0.4, label="paper (training, GPU)")
ax[1].bar(xs + 0.2, [t7 / ours[n]["seconds"] for n in NAMES], 0.4, label="ours (forward, width 1/4)")
ax[1].set_ylabel("speed relative to DeepLab-7x7"); ax[1].legend(fontsize=7)
ax[2].bar(xs, [PAPER[n][4] for n in NAMES], color="tab:orange")
ax[2].set_ylim(60, 70); ax[2].set_ylabel("paper's mean IOU (%), VOC val")
for a in ax[:3]:
    a.set_xticks(xs, [n.replace("DeepLab", "DL") for n in NAMES], fontsize=8)
for size, name in zip([90, 50, 25, 10], NAMES):  # smaller markers on top
    k, dil, _ = VARIANTS[name]
    offs = (np.arange(k) - (k - 1) / 2) * dil
    yy, xx = np.meshgrid(offs, offs, indexing="ij")
    ax[3].scatter(xx.ravel(), yy.ravel(), s=size, label=f"{name}: {k}x{k}, dilation {dil}")
ax[3].set_aspect("equal")
ax[3].set_title("fc6 taps on pool5 (stride-8 cells)", fontsize=9)
ax[3].legend(fontsize=7, loc="upper right", bbox_to_anchor=(2.0, 1.0))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where LargeFOV's savings come from
#
# LargeFOV changes two things at once: fc6's kernel (3x3 instead of 4x4 or 7x7) and the width
# of fc6 and fc7 (1,024 channels instead of 4,096). Which one saves the parameters?

# %% tags=["solution"]
# Exercise: write head_params(k, c, classes=21), the parameters (weights + biases) of the
# head: fc6 (k x k taps on pool5's 512 channels, c filters), fc7 (1x1, c -> c) and
# fc8 (1x1, c -> classes).
# BEGIN SOLUTION
def head_params(k, c, classes=21):
    return (k * k * 512 * c + c) + (c * c + c) + (c * classes + classes)
# END SOLUTION

# %%
for name in NAMES:
    k, _, c = VARIANTS[name]
    counts = ours[name]["counts"]
    assert head_params(k, c) == counts["fc6"] + counts["fc7"] + counts["fc8"], name
body = ours["DeepLab-LargeFOV"]["params"] - head_params(3, 1024)  # the 13 convolutions, shared
wide_3x3 = body + head_params(3, 4096)                             # LargeFOV's kernel, VGG's width
print(f"convolutions {body / 1e6:.1f}M; 4x4 at 4,096 channels {ours['DeepLab']['params'] / 1e6:.1f}M -> "
      f"3x3 at 4,096: {wide_3x3 / 1e6:.1f}M -> 3x3 at 1,024 (LargeFOV): {lf['params'] / 1e6:.1f}M")
assert ours["DeepLab"]["params"] - wide_3x3 < wide_3x3 - lf["params"]  # the channel cut saves more than the kernel

# %% [markdown]
# From 65.1M to 50.5M by the smaller kernel, from 50.5M to 20.5M by the narrower fc6 and fc7
# (fc7 alone goes from 16.8M to 1.0M weights: it is square in the width). The paper's
# comparison therefore credits LargeFOV's speed to two changes, and its accuracy to keeping
# the 224-pixel field of view despite both.
#
# ## What you saw
#
# * fc6's kernel and dilation set the field of view; decimating the kernel and raising the
#   dilation keeps it (DeepLab-4x4, LargeFOV), while a small dilation shrinks it and costs
#   accuracy (DeepLab: 63.74 against 67.14).
# * The paper's "RF 224" is fc6's span plus one 32-pixel cell; the theoretical field (419
#   for LargeFOV) adds the window of the layers under fc6.
# * LargeFOV matches the 7x7's 67.64 with 20.5M instead of 134.3M parameters, mostly thanks
#   to 1,024 instead of 4,096 channels in fc6 and fc7, and runs several times faster.
#
# **Next:** [05_atrous.ipynb](05_atrous.ipynb) — how the dilated convolution itself works, and
# why it gives dense scores.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (Table 2: the field-of-view experiment).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (VGG-16's fully connected layers run as convolutions).
