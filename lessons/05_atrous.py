# %% [markdown]
# # Lesson 5 — Explicit control of response density: the atrous algorithm
#
# A classification net has output stride 32 (lesson 3): one score per 32x32 block. Lesson 2 got
# a score at every position by shift-and-stitch, f^2 passes of the net (1,024 for VGG-16), each
# redoing the layers below the subsampling. DeepLab gets the same dense scores in **one** pass:
# remove a subsampling (a pool's stride 2 becomes 1) and **dilate** every later kernel by 2,
# that is, insert one zero between neighbouring taps. The kernel then reaches the same input
# pixels as before the change, with no new weight and no extra work per output; only the number
# of outputs grows. The trick is the *algorithme à trous* ("with holes") used to compute the
# undecimated wavelet transform (Holschneider et al. 1989; Mallat 1999), which the DeepLab
# paper borrows: it removes the subsampling of pool4 and pool5 and dilates the conv5 block by 2
# and fc6 by 4, for an output stride of 8.
#
# Three views of one operation, a kernel w of k taps with dilation d:
#
# 1. **dilated convolution**: $y[i] = \sum_k w[k]\, x[i + d\,k]$ (the taps are d pixels apart);
# 2. an ordinary convolution with the **zero-inserted kernel**, d - 1 zeros between neighbouring
#    taps: d (k - 1) + 1 wide, k of them nonzero;
# 3. **subsampled input** (shift-and-stitch): split x into its d phases $x_p = x[p::d]$, run the
#    plain kernel on each, and interleave: $y[p + d\,m] = \sum_k w[k]\, x_p[m + k]$.
#
# View 2 says what the filter is, view 1 how to compute it without multiplying zeros (im2col
# reads the taps d pixels apart: the library's `conv2d_im2col_forward(..., dilation=d)`), view
# 3 why it gives what shift-and-stitch gives. Long et al. (2015) made the same observation
# ("shift-and-stitch is filter rarefaction").

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.models import DeepLab, receptive_field

rows = {r["layer"]: r for r in receptive_field(DeepLab("DeepLab-7x7", width=1 / 8))}
print({name: (rows[name]["stride"], rows[name]["dilation"]) for name in ("pool4", "pool5", "conv5_1", "fc6")},
      "(stride, dilation); output stride", rows["fc8"]["jump"])
assert rows["pool4"]["stride"] == rows["pool5"]["stride"] == 1          # no subsampling after pool3
assert [rows[f"conv5_{i}"]["dilation"] for i in (1, 2, 3)] == [2, 2, 2]  # conv5 dilated by 2
assert rows["fc6"]["dilation"] == 4 and rows["fc8"]["jump"] == 8         # fc6 by 4; output stride 8

rng = np.random.default_rng(0)
x = rng.standard_normal(40)
w = np.array([1.0, -2.0, 0.5])
d = 3

# 1. the definition ('valid' positions only)
n_out = len(x) - d * (len(w) - 1)
y_def = np.array([sum(w[k] * x[i + d * k] for k in range(len(w))) for i in range(n_out)])
# 2. zero-inserted kernel
w_holes = np.zeros(d * (len(w) - 1) + 1)
w_holes[::d] = w
y_holes = np.correlate(x, w_holes, mode="valid")

# %% tags=["solution"]
# Exercise: view 3. For each phase p in range(d), correlate x[p::d] with the plain kernel w,
# and write the results into y_stitch[p::d].
# BEGIN SOLUTION
y_stitch = np.zeros(n_out)
for p in range(d):
    part = np.correlate(x[p::d], w, mode="valid")
    y_stitch[p::d] = part[: len(y_stitch[p::d])]
# END SOLUTION

# %%
assert np.allclose(y_def, y_holes) and np.allclose(y_def, y_stitch)
print("1-D: definition == zero-inserted kernel == shift-and-stitch")

# %% [markdown]
# ## Zero-inserted taps
#
# The same 3x3 kernel (nine weights, numbered 1 to 9 here) dilated by 1, 2, 4 and 12, drawn
# at the same pixel scale: it spans 2d + 1 pixels, always with nine nonzero taps. Dilation 12 is
# DeepLab-LargeFOV's fc6 (lesson 4): on pool5's stride-8 cells its outer taps are
# 2 x 12 x 8 = 192 input pixels apart. Each panel also checks view 2 in 2-D: the library's
# dilated convolution equals an ordinary convolution with the zero-inserted kernel.

# %%
def with_holes(w, d):
    """The zero-inserted kernel of w (..., k, k) for dilation d: (..., d (k - 1) + 1, d (k - 1) + 1)."""
    k = w.shape[-1]
    out = np.zeros(w.shape[:-2] + (d * (k - 1) + 1,) * 2, w.dtype)
    out[..., ::d, ::d] = w
    return out


w9 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
image = rng.standard_normal((1, 1, 40, 40))
fig, ax = plt.subplots(1, 4, figsize=(14, 3.6))
for a, dil in zip(ax, [1, 2, 4, 12]):
    big = with_holes(w9, dil)
    side = big.shape[-1]
    shown = np.where(big[0, 0] == 0, np.nan, big[0, 0])
    a.imshow(shown, cmap="viridis", vmin=1, vmax=9, extent=(-side / 2, side / 2, side / 2, -side / 2))
    a.add_patch(plt.Rectangle((-side / 2, -side / 2), side, side, fill=False, lw=0.8))
    a.set_xlim(-13, 13); a.set_ylim(13, -13); a.set_xticks([]); a.set_yticks([])
    a.set_title(f"dilation {dil}: {side}x{side}, {np.count_nonzero(big)} nonzero", fontsize=9)
    dilated, _ = nn.conv2d_im2col_forward(image, w9, None, 1, 0, dilation=dil)
    plain, _ = nn.conv2d_im2col_forward(image, big, None, 1, 0)
    assert side == 2 * dil + 1 and np.count_nonzero(big) == 9
    assert dilated.shape == plain.shape and np.abs(dilated - plain).max() < 1e-9
plt.suptitle("a 3x3 kernel with zeros inserted between its taps (white: zero)", fontsize=10)
plt.show()

# %% [markdown]
# ## In 2-D, inside a network
#
# A "classification" branch: conv, 2x2 max pool with stride 2, conv (stride-2 output). The
# "DeepLab" branch: the same conv, the pool with stride 1, and the second conv **dilated by 2**.
# Its output is dense, and the stride-2 output is exactly every other pixel of it. View 3 says
# more: each of the four phases of the dense output, `dense[..., a::2, b::2]`, is the *plain*
# second conv run on the matching phase of the stride-1 pooled map, which is the classification
# branch run on the input shifted by (a, b): lesson 2's shift-and-stitch, in one pass.

# %%
x2 = rng.standard_normal((1, 3, 32, 32))  # even: no partial pooling window at the border
w1 = rng.standard_normal((8, 3, 3, 3))
w2 = rng.standard_normal((4, 8, 3, 3))
h, _ = nn.conv2d_im2col_forward(x2, w1, None, 1, 1)
pooled1 = nn.maxpool2d_forward(h, 2, 1)[0]  # stride 1: the subsampling removed
coarse, _ = nn.conv2d_im2col_forward(nn.maxpool2d_forward(h, 2, 2)[0], w2, None, 1, 0)
dense, _ = nn.conv2d_im2col_forward(pooled1, w2, None, 1, 0, dilation=2)
print("coarse", coarse.shape, "dense", dense.shape)
# 32 -> pool stride 2 -> 16 -> 3x3 conv -> 14; 32 -> pool stride 1 -> 31 -> 3x3 conv dilated by 2
# (it spans 5 pixels) -> 27 = 2 * 14 - 1: one output per input position of the pooled map
assert coarse.shape[2:] == (14, 14) and dense.shape[2:] == (27, 27)
assert np.abs(dense[:, :, ::2, ::2] - coarse).max() < 1e-5
# and the dilated conv equals a conv with a zero-inserted 5x5 kernel
same, _ = nn.conv2d_im2col_forward(pooled1, with_holes(w2, 2), None, 1, 0)
assert np.abs(same - dense).max() < 1e-5
# view 3: every phase of the dense output is the plain conv on that phase of the pooled map
for a in range(2):
    for b in range(2):
        phase, _ = nn.conv2d_im2col_forward(pooled1[:, :, a::2, b::2], w2, None, 1, 0)
        n_r, n_c = dense[:, :, a::2, b::2].shape[2:]
        assert np.abs(phase[:, :, :n_r, :n_c] - dense[:, :, a::2, b::2]).max() < 1e-5
print("2-D: dilated conv == zero-inserted kernel == four phases of the plain conv, interleaved")

fig, ax = plt.subplots(1, 2, figsize=(7, 3.2))
ax[0].imshow(coarse[0, 0]); ax[0].set_title(f"stride 2: {coarse.shape[2]}x{coarse.shape[3]}")
ax[1].imshow(dense[0, 0]); ax[1].set_title(f"atrous, stride 1: {dense.shape[2]}x{dense.shape[3]}")
plt.show()

# %% [markdown]
# ## Resolution without more parameters
#
# The dilated second conv has the same 4 x 8 x 3 x 3 weights as the plain one; only the
# number of positions it is evaluated at grows. Per output it does the same work: im2col
# gathers the same 8 x 9 inputs, d pixels apart instead of adjacent, and the zeros of the
# zero-inserted kernel are never multiplied. The alternatives that give a dense output with the
# same field of view cost more: an undilated 5x5 kernel has 25 taps instead of 9 (and would
# have to be learned anew, while DeepLab keeps VGG-16's trained 3x3 weights), and
# shift-and-stitch repeats the layers under the pool for each of the f^2 shifts.

# %%
n_weights = w2.size
cols = {dil: nn.im2col(pooled1, 3, 3, (1, 1), (0, 0), (dil, dil)).shape[1:] for dil in (1, 2, 4)}
print("weights of the second conv:", n_weights, "whatever the dilation; 5x5 undilated:", with_holes(w2, 2).size)
print("im2col (channels, kh, kw, output rows, output columns) at dilation 1, 2, 4:", cols)
macs = {name: out.shape[2] * out.shape[3] * n_weights for name, out in (("coarse", coarse), ("atrous", dense))}
print(f"second conv: {macs['coarse']} multiply-adds for {coarse.shape[2] * coarse.shape[3]} positions (stride 2), "
      f"{macs['atrous']} for {dense.shape[2] * dense.shape[3]} (atrous): {n_weights} per position in both")
assert all(shape[:3] == (8, 3, 3) for shape in cols.values())  # 9 taps per channel at every dilation
assert with_holes(w2, 2).size == n_weights * 25 // 9       # a dense 5x5 needs 25/9 as many weights

# %% [markdown]
# ## Which input pixels one output sees
#
# Stack three 3x3 convolutions, each dilated by d, and ask which input pixels reach one output.
# With all weights 1, the output's value for a single bright input pixel counts the paths from
# that pixel to the output; the symmetric kernel lets us run it the other way, from one pixel to
# all outputs, with the library's convolution (padding d keeps the size). The recursion of
# lesson 3 gives the span: each layer adds 2d, so 6d + 1 pixels. But only the pixels on a
# lattice of spacing d are ever read: 7 x 7 = 49 of them, whatever d, while the span grows. A
# stack of equal dilations leaves holes in its field (later work calls this *gridding*: Yu,
# Koltun & Funkhouser 2017). Doubling the dilation from layer to layer, 1, 2, 4 (Yu & Koltun
# 2016), covers every pixel of its 15x15 span.

# %%
CANVAS = 2 * 4 * 12 + 1  # room for four layers of dilation 12


def footprint(dilations, size=CANVAS):
    """Paths from each input pixel to the centre output of a stack of 3x3 convs (weights 1) with these dilations."""
    img = np.zeros((1, 1, size, size))
    img[0, 0, size // 2, size // 2] = 1.0
    ones = np.ones((1, 1, 3, 3))
    for dil in dilations:
        img, _ = nn.conv2d_im2col_forward(img, ones, None, 1, dil, dilation=dil)
    return img[0, 0]


def span(fp):
    """Side of the smallest square holding every nonzero pixel."""
    rr, cc = np.nonzero(fp > 0.5)
    return max(rr.max() - rr.min(), cc.max() - cc.min()) + 1


def draw(ax, dilations, size=CANVAS):
    """The footprint as an image (colour: number of paths; white: never read), its span outlined."""
    fp = footprint(dilations, size)
    ax.imshow(np.where(fp > 0.5, fp, np.nan), cmap="viridis", interpolation="nearest")
    half = span(fp) / 2
    ax.add_patch(plt.Rectangle((size // 2 - half, size // 2 - half), 2 * half, 2 * half, fill=False, lw=0.6, ls=":"))
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"dilations {tuple(dilations)}\nspan {span(fp)}, {int((fp > 0.5).sum())} pixels seen", fontsize=9)
    return fp


stacks = [(1, 1, 1), (2, 2, 2), (4, 4, 4), (8, 8, 8), (1, 2, 4)]
fig, ax = plt.subplots(1, len(stacks), figsize=(3 * len(stacks), 3.4))
seen = {s: draw(a, s, size=55) for a, s in zip(ax, stacks)}
plt.show()
for dil in (1, 2, 4, 8):
    fp = seen[(dil,) * 3]
    rf = 1
    for _ in range(3):
        rf += dil * (3 - 1) * 1  # lesson 3's recursion (jump 1)
    assert span(fp) == rf == 6 * dil + 1
    assert (fp > 0.5).sum() == 49  # 7 x 7 taps, spread out: holes for d > 1
fp = seen[(1, 2, 4)]
assert span(fp) == 15 and (fp > 0.5).sum() == 15 * 15               # doubling dilations: no holes

# %% [markdown]
# Move the sliders (in a live notebook with ipywidgets installed) to see how the field and its
# holes change with the dilation and the number of layers.

# %%
try:
    from ipywidgets import interact

    def show_stack(dilation=2, layers=3):
        fig, ax = plt.subplots(figsize=(4, 4))
        draw(ax, [dilation] * layers)
        plt.show()

    interact(show_stack, dilation=(1, 12), layers=(1, 4))
except ImportError:
    pass

# %% [markdown]
# ## What you saw
#
# * A dilated convolution is an ordinary one with d - 1 zeros between the kernel's taps, and
#   also the plain kernel run on each of the d^2 phases of the input, interleaved: lesson 2's
#   shift-and-stitch in one pass.
# * Removing a subsampling and dilating the later kernels gives the dense output, of which the
#   old stride-2 output is every other pixel, with the same weights and the same work per output.
# * Three layers of equal dilation d see a (6d + 1)-pixel span but only 49 of its pixels;
#   doubling dilations (1, 2, 4) see all of theirs.
#
# **Next:** [06_backprop.ipynb](06_backprop.ipynb) — backpropagation from scratch, starting with
# the atrous convolution's backward pass.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (section 3.1: the hole algorithm for dense features).
# * M. Holschneider, R. Kronland-Martinet, J. Morlet, Ph. Tchamitchian. *A Real-Time Algorithm
#   for Signal Analysis with the Help of the Wavelet Transform.* In Wavelets: Time-Frequency
#   Methods and Phase Space, Springer, 1989 (the algorithme à trous).
# * S. Mallat. *A Wavelet Tour of Signal Processing.* 2nd ed., Academic Press, 1999 (the
#   undecimated wavelet transform).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (section 3.2: shift-and-stitch is filter rarefaction).
# * F. Yu, V. Koltun. *Multi-Scale Context Aggregation by Dilated Convolutions.* ICLR 2016,
#   arXiv:1511.07122 (exponentially growing dilations cover the whole field).
# * F. Yu, V. Koltun, T. Funkhouser. *Dilated Residual Networks.* CVPR 2017 (gridding artifacts
#   of dilated convolutions).
