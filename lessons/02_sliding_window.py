# %% [markdown]
# # Lesson 2 — Convnets as sliding-window classifiers
#
# Semantic segmentation asks for a class at every pixel. The direct way to get that from a
# convnet is a **sliding window**: train a classifier on small patches to predict the class of
# the patch's centre pixel, then slide it over the image and classify one patch per pixel.
# Ciresan et al. (2012) segmented neuronal membranes in electron-microscopy images this way. It
# works, but it is wasteful: neighbouring windows overlap almost entirely, and each window
# recomputes from scratch the first-layer responses it shares with its neighbours.
#
# A convnet *is* already a sliding operation. A convolution applies the same filter at every
# position, a pooling layer takes the same max at every position; a net made only of such layers
# (no fully connected layer, or one rewritten as a convolution, lesson 4) runs on an image of any
# size, and each of its outputs is the classifier applied to the window that output sees, its
# *receptive field* (lesson 3). Run once on the whole image, the net computes every intermediate
# response once and shares it among all the windows that contain it. This is the **fully
# convolutional** view (OverFeat, Sermanet et al. 2014; FCN, Long et al. 2015), and DeepLab starts
# from it. Two conditions make the two computations agree exactly: no zero padding inside the net
# (with it, the patch classifier would see zeros at its patch's border where the whole-image pass
# sees real neighbours), and the image padded once, outside, so that border pixels get a full
# window too.
#
# One catch remains: **subsampling**. A net with a stride-2 pooling layer gives one output every
# 2 pixels in each direction, its *output stride*. One pass then answers for a quarter of the
# windows only. FCN's **shift-and-stitch** gets the rest by running the net on the image
# shifted by (a, b) pixels, for every 0 <= a, b < f with f the output stride, and interlacing the
# f^2 outputs. This lesson trains a small patch classifier with one pooling layer and labels a
# test image three ways: window by window, in one pass, and by shift-and-stitch.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.datasets import SyntheticScenes, preprocess
from minideeplab.models import VGG16, receptive_field
from minideeplab.nn import Conv2d, MaxPool2d, ReLU, Sequential
from minideeplab.optim import SGD
from minideeplab.viz import colorize, show_rows

L = 4  # classes: background and three shapes
rng = np.random.default_rng(0)
net = Sequential([Conv2d(3, 16, 5, name="c1"), ReLU("r1"), MaxPool2d(2, 2, name="pool"),
                  Conv2d(16, 16, 3, name="c2"), ReLU("r2"), Conv2d(16, 16, 3, name="c3"), ReLU("r3"),
                  Conv2d(16, L, 1, name="score")])
for layer in net.layers:
    if layer.params:
        w = layer.params["weight"]
        layer.params["weight"] = (rng.standard_normal(w.shape) * np.sqrt(2 / np.prod(w.shape[1:]))).astype(np.float32)
geometry = receptive_field(net)
P, S = geometry[-1]["rf"], geometry[-1]["jump"]  # the window the classifier sees, its output stride
out = net.forward(np.zeros((1, 3, P, P), np.float32))
print(f"patch {P}x{P} -> scores {out.shape}; output stride {S}")
assert (P, S) == (14, 2)
assert out.shape == (1, L, 1, 1)  # a window as large as the receptive field gives one score

# %% [markdown]
# The patch size is not a free choice: it is the receptive field of the net's output, 14 pixels
# (a 5x5 convolution, a 2x2 pool, two 3x3 convolutions at stride 2; lesson 3 gives the
# recursion). A 14x14 patch produces exactly one score vector, for the pixel at its centre
# (row and column 7 of the patch: an even window has no exact centre, so we take the one just
# below and right of it).
#
# ## Train the centre-pixel classifier on patches
#
# Forty synthetic 64x64 scenes (coloured shapes on a noisy background); each iteration draws 64
# random patches and their centre labels.

# %%
scenes = SyntheticScenes(40, (64, 64), L, objects=(2, 4), seed=0, radius=(0.15, 0.3))
X = np.stack([preprocess(scenes[i][0]) / 58 for i in range(len(scenes))])
Y = np.stack([scenes[i][1] for i in range(len(scenes))]).astype(np.int64)
params = {f"{l.name}.{k}": v for l in net.layers for k, v in l.params.items()}
opt = SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)
losses = []
for it in range(300):
    i = rng.integers(len(X), size=64)
    y0 = rng.integers(0, 64 - P + 1, size=64)
    x0 = rng.integers(0, 64 - P + 1, size=64)
    batch = np.stack([X[a, :, b:b + P, c:c + P] for a, b, c in zip(i, y0, x0)])
    target = Y[i, y0 + P // 2, x0 + P // 2][:, None, None]
    loss, cache = nn.softmax_cross_entropy_forward(net.forward(batch), target)
    net.backward(nn.softmax_cross_entropy_backward(cache))
    opt.step({f"{l.name}.{k}": v for l in net.layers for k, v in l.grads.items()})
    losses.append(loss)
plt.figure(figsize=(6, 2.8))
plt.plot(np.convolve(losses, np.ones(20) / 20, mode="valid"))
plt.xlabel("iteration"); plt.ylabel("loss (running mean of 20)"); plt.title("training on 14x14 patches")
plt.show()

# %% [markdown]
# ## Window by window, then one pass
#
# Pad the test image by 7 pixels above and left and 6 below and right, so that every pixel has
# a full 14x14 window with the pixel at the window's centre. The sliding window classifies the
# H x W patches one by one (in batches of 512, which changes nothing but speed). The one-pass
# net runs once on the padded image.

# %%
test_img, test_label = SyntheticScenes(1, (48, 64), L, objects=(2, 4), seed=29, radius=(0.15, 0.3))[0]
H, W = test_label.shape
x = np.pad(preprocess(test_img) / 58, ((0, 0), (P // 2, P - 1 - P // 2), (P // 2, P - 1 - P // 2)))

t = time.perf_counter()
patches = np.stack([x[:, r:r + P, c:c + P] for r in range(H) for c in range(W)])
sliding = np.concatenate([net.forward(patches[k:k + 512]) for k in range(0, len(patches), 512)])
sliding = sliding[:, :, 0, 0].reshape(H, W, L).transpose(2, 0, 1)  # (L, H, W)
t_sliding = time.perf_counter() - t

t = time.perf_counter()
coarse = net.forward(x[None])[0]
t_coarse = time.perf_counter() - t
Hc, Wc = len(range(0, H, S)), len(range(0, W, S))  # the windows at rows and columns 0, S, 2S, ...
print(f"sliding window: {H * W} patches -> {sliding.shape}; one pass on {x.shape[1:]} -> {coarse.shape}")
assert np.abs(coarse[:, :Hc, :Wc] - sliding[:, ::S, ::S]).max() < 1e-4 * np.abs(sliding).max()
assert coarse.shape[1:] == (Hc + 1, Wc + 1)  # one score per S x S block (and one past the image)

# %% [markdown]
# The one-pass output is the sliding window's answer at every other row and column, to
# rounding. Its extra last row and column are windows that start past the image's last pixel:
# the pool rounds its output size up, as Caffe's does, and keeps a half-empty window at the
# border. We drop them.
#
# ## Shift-and-stitch
#
# Output (i, j) of the one-pass net is the window starting at (S i, S j) of its input. Shift the
# input by (a, b), that is drop its first a rows and b columns, and output (i, j) becomes the
# window at (a + S i, b + S j): the pixels of phase (a, b). S^2 = 4 shifted passes cover every
# pixel once.

# %% tags=["solution"]
# Exercise: write shift_and_stitch(net, x, stride, H, W) -> (L, H, W) scores, with stride^2
# passes of `net`: for each shift (a, b), 0 <= a, b < stride, run net on x[None, :, a:, b:]
# and write its first rows and columns into out[:, a::stride, b::stride].
# BEGIN SOLUTION
def shift_and_stitch(net, x, stride, H, W):
    out = None
    for a in range(stride):
        for b in range(stride):
            part = net.forward(x[None, :, a:, b:])[0]
            if out is None:
                out = np.zeros((part.shape[0], H, W), part.dtype)
            rows, cols = len(range(a, H, stride)), len(range(b, W, stride))
            out[:, a::stride, b::stride] = part[:, :rows, :cols]
    return out
# END SOLUTION

# %%
t = time.perf_counter()
stitched = shift_and_stitch(net, x, S, H, W)
t_stitch = time.perf_counter() - t
accuracy = (stitched.argmax(0) == test_label).mean()
print(f"shift-and-stitch: {stitched.shape}, pixel accuracy {accuracy:.3f}")
print(f"time: sliding window {t_sliding:.3f} s, one pass {t_coarse:.4f} s, shift-and-stitch {t_stitch:.4f} s")
assert stitched.shape == (L, H, W)
assert np.abs(stitched - sliding).max() < 1e-4 * np.abs(sliding).max()  # the very same scores
assert accuracy > 0.8

# %%
phase = (np.arange(8)[:, None] % S) * S + np.arange(8)[None, :] % S  # which pass fills each pixel
fig, ax = plt.subplots(1, 5, figsize=(15, 2.6))
ax[0].imshow(phase, cmap="tab10", vmin=0, vmax=9)
for r in range(8):
    for c in range(8):
        ax[0].text(c, r, f"{r % S},{c % S}", ha="center", va="center", fontsize=7)
ax[0].set_title("pass (a, b) that fills each pixel\n(top-left 8x8)", fontsize=9)
for k, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
    part = net.forward(x[None, :, a:, b:])[0][:, :len(range(a, H, S)), :len(range(b, W, S))]
    ax[k + 1].imshow(colorize(part.argmax(0)), interpolation="nearest")
    ax[k + 1].set_title(f"pass (a, b) = ({a}, {b}): {part.shape[1]}x{part.shape[2]}", fontsize=9)
for a in ax:
    a.set_xticks([]); a.set_yticks([])
plt.show()
show_rows([[test_img, test_label, coarse[:, :Hc, :Wc].argmax(0), stitched.argmax(0)]],
          ["image", "truth", f"one pass ({Hc}x{Wc})", f"shift-and-stitch ({H}x{W})"])
plt.show()

# %% [markdown]
# ## What each method costs
#
# Count the multiply-adds of the convolutions (the pool and the ReLUs are comparisons, cheap
# beside them). A window's c1 computes 10x10 responses; the sliding window does that for each of
# the H x W windows, so a c1 response away from the border is computed 100 times, once for each
# window that contains it (fewer near the border, where fewer windows overlap). The one pass
# computes each once. Shift-and-stitch computes
# each of c1's responses S^2 = 4 times (each shifted pass redoes the layer below the pool on
# almost the same pixels) but the layers after the pool once per pixel, as a net without any
# subsampling would.

# %%
def multiply_adds(net, h, w):
    """Multiply-adds of each convolution of `net` in one forward pass on an h x w input."""
    total = {}
    for layer in net.layers:
        if isinstance(layer, Conv2d):
            (k, _), (s, _), (p, _), (d, _) = layer.kernel_size, layer.stride, layer.padding, layer.dilation
            h, w = nn.conv_output_size(h, k, s, p, d), nn.conv_output_size(w, k, s, p, d)
            total[layer.name] = h * w * layer.out_channels * layer.in_channels * k * k
        elif isinstance(layer, MaxPool2d):
            (k, _), (s, _), (p, _) = layer.kernel_size, layer.stride, layer.padding
            h, w = nn.pool_output_size(h, k, s, p), nn.pool_output_size(w, k, s, p)
    return total


names = [l.name for l in net.layers if isinstance(l, Conv2d)]
per_window = multiply_adds(net, P, P)
assert per_window["c1"] == 10 * 10 * (16 * 3 * 5 * 5)  # a window's c1: 10 x 10 responses
cost = {"sliding window": {n: H * W * per_window[n] for n in names},
        "one pass (1/4 of the pixels)": multiply_adds(net, *x.shape[1:]),
        "shift-and-stitch": {n: sum(multiply_adds(net, x.shape[1] - a, x.shape[2] - b)[n]
                                    for a in range(S) for b in range(S)) for n in names}}
total = {m: sum(c.values()) for m, c in cost.items()}
for m, c in cost.items():
    print(f"{m:30s} {total[m] / 1e6:7.1f} M multiply-adds  ({', '.join(f'{n} {v / 1e6:.1f}M' for n, v in c.items())})")
slide, one, stitch = total.values()
print(f"sliding window / shift-and-stitch: {slide / stitch:.1f}x; shift-and-stitch / one pass: {stitch / one:.1f}x")
c1_redone = cost["sliding window"]["c1"] / cost["one pass (1/4 of the pixels)"]["c1"]
print(f"the sliding window computes c1 {c1_redone:.0f}x over")
assert one < stitch < slide and slide / stitch > 10  # most of the sliding window's work is repeated
assert c1_redone > 50
assert round(slide / stitch) == 12 and round(c1_redone) == 74  # the figures quoted below
assert abs(cost["shift-and-stitch"]["c1"] / cost["one pass (1/4 of the pixels)"]["c1"] - S ** 2) < 0.1
vgg_stride = receptive_field(VGG16(width=1 / 8))[-1]["jump"]
print(f"VGG-16: output stride {vgg_stride}, so shift-and-stitch needs {vgg_stride ** 2} passes")
assert vgg_stride ** 2 == 1024

fig, ax = plt.subplots(1, 2, figsize=(12, 3.2))
xs = np.arange(len(names))
for k, (m, c) in enumerate(cost.items()):
    ax[0].bar(xs + (k - 1) * 0.27, [c[n] for n in names], 0.27, label=m)
ax[0].set_xticks(xs, names); ax[0].set_yscale("log"); ax[0].set_ylabel("multiply-adds")
ax[0].legend(fontsize=8); ax[0].set_title(f"work per layer, one {H}x{W} image", fontsize=9)
ax[1].bar(list(total), [t_sliding, t_coarse, t_stitch], color=["tab:blue", "tab:orange", "tab:green"])
ax[1].set_yscale("log"); ax[1].set_ylabel("seconds (measured)"); ax[1].tick_params(axis="x", labelsize=8)
ax[1].set_title("time on this machine", fontsize=9)
plt.show()

# %% [markdown]
# Here the sliding window does 12 times the work of shift-and-stitch and 74 times the c1 work of
# one pass. The waste grows with the window's area: a classifier of 224x224 crops, such as VGG-16
# trained on ImageNet, would run a whole ImageNet classification for every pixel. The fully
# convolutional pass removes the repetition; only subsampling is left to deal with.
# Shift-and-stitch trades it for f^2 passes, which grows fast: VGG-16's output stride is 32
# (lesson 3), hence 1,024 passes. Long et al. tried the trick and preferred learned
# upsampling; Giusti et al. (2013) and OverFeat computed such shifted passes inside the net,
# sharing the layers below each pooling. DeepLab's answer is the atrous algorithm of lesson 5:
# the dense output in one pass, each layer computed once.
#
# ## What you saw
#
# * A convnet without padding inside labels every pixel in one pass: each output is the patch
#   classifier applied to its receptive field, and the scores equal the sliding window's.
# * With a stride-S pooling, one pass answers for every S-th row and column; shift-and-stitch
#   fills the rest with S^2 shifted passes and matches the sliding window exactly.
# * The sliding window repeats almost all of its work: here it computes c1 74 times over, and
#   costs 12 times as much as shift-and-stitch.
#
# **Next:** [03_receptive_field.ipynb](03_receptive_field.ipynb) — how large the window of each
# output is, layer by layer, and what a large one costs at object boundaries.
#
# ## References
#
# * D. Ciresan, A. Giusti, L. M. Gambardella, J. Schmidhuber. *Deep Neural Networks Segment
#   Neuronal Membranes in Electron Microscopy Images.* NIPS 2012 (a patch classifier run at
#   every pixel).
# * A. Giusti, D. C. Ciresan, J. Masci, L. M. Gambardella, J. Schmidhuber. *Fast Image Scanning
#   with Deep Max-Pooling Convolutional Neural Networks.* ICIP 2013, arXiv:1302.1700.
# * P. Sermanet, D. Eigen, X. Zhang, M. Mathieu, R. Fergus, Y. LeCun. *OverFeat: Integrated
#   Recognition, Localization and Detection using Convolutional Networks.* ICLR 2014,
#   arXiv:1312.6229 (dense evaluation of a convnet; pooling at every offset).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (section 3.2: shift-and-stitch).
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (dense scores from a convnet, lesson 5).
