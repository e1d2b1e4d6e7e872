# %% [markdown]
# # Lesson 3 — The accuracy / localisation trade-off
#
# Each output of a convnet is computed from a window of the input: its **receptive field**, the
# pixels that can change it. In lesson 2 the patch a classifier needed was exactly that window.
# Its size pulls two ways. Classification needs context: a brown blob is a cow because there is
# grass around it, so the field must cover the object and some of its surroundings. But every
# output mixes everything in its window, and two neighbouring outputs see almost the same
# pixels; near a boundary the scores then change slowly over many pixels, and the labels
# follow them. Localisation suffers. This lesson computes the field of VGG-16 and of
# DeepLab-LargeFOV layer by layer, and shows the blur a large field brings.
#
# ## The recursion
#
# Number the layers l = 1, 2, ..., n; layer l has kernel size k_l, stride s_l and dilation d_l
# (lessons 4 and 5; d = 1 for an ordinary kernel). Two numbers describe layer l's output map:
#
# * the **jump** j_l: the distance, in input pixels, between two neighbouring cells of the map
#   (its output stride). A stride-s layer multiplies it: $j_0 = 1$, $j_l = j_{l-1}\,s_l$;
# * the **receptive field** r_l: the side of the input window one cell sees, $r_0 = 1$ and
#
# $$r_l = r_{l-1} + (k_l - 1)\, j_{l-1} \quad\text{(ordinary kernel)},\qquad
#   r_l = r_{l-1} + d_l\,(k_l - 1)\, j_{l-1} \quad\text{(dilated kernel)}.$$
#
# Why: a cell of layer l reads k_l neighbouring cells of layer l - 1. Those are j_{l-1} input
# pixels apart, so the outermost two are (k_l - 1) j_{l-1} pixels apart, and each of them sees
# r_{l-1} pixels: together r_{l-1} + (k_l - 1) j_{l-1}. A dilated kernel spreads its k_l taps
# over d_l (k_l - 1) + 1 cells. A layer's stride does not enlarge its own field; it multiplies
# the jump, and so what every later layer adds. The same 3x3 convolution adds 2 pixels at the
# bottom of VGG-16 and 32 pixels in its conv5 block, where the jump is 16.
#
# The library's `receptive_field(model)` runs this recursion over a model's layers.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.models import DeepLab, VGG16, receptive_field
from minideeplab.train import TrainConfig

vgg = receptive_field(VGG16(width=1 / 8))
fov = receptive_field(DeepLab("DeepLab-LargeFOV", width=1 / 8))
print(f"{'':8s} | {'VGG-16':^24s} | {'DeepLab-LargeFOV':^24s}")
print(f"{'layer':8s} | {'k  s  d':>8s} {'jump':>6s} {'RF':>6s} | {'k  s  d':>8s} {'jump':>6s} {'RF':>6s}")
for a, b in zip(vgg, fov):
    print(f"{a['layer']:8s} | {a['kernel']:2d} {a['stride']:2d} {a['dilation']:2d} {a['jump']:6d} {a['rf']:6d} | "
          f"{b['kernel']:2d} {b['stride']:2d} {b['dilation']:2d} {b['jump']:6d} {b['rf']:6d}")

# %% [markdown]
# The two nets share their 13 convolutions' weights (DeepLab starts from VGG-16's), but not
# their geometry. VGG-16's pools are 2x2 with stride 2, five times: its jump doubles to 32.
# DeepLab-LargeFOV's pools are 3x3 (stride 2 for the first three, 1 for pool4 and pool5): its
# jump stops at 8, and the conv5 block (dilation 2) and fc6 (3x3, dilation 12) are dilated to
# make up for the missing subsampling.

# %% tags=["solution"]
# Exercise: compute the receptive field `rf` of VGG-16's fc6 from the layer list by hand
# (13 3x3 convs, 5 2x2 stride-2 pools, then fc6 as a 7x7 conv), with the recursion above.
# BEGIN SOLUTION
rf, jump = 1, 1
for block, n_convs in enumerate([2, 2, 3, 3, 3]):
    for _ in range(n_convs):
        rf += 2 * jump
    rf += 1 * jump
    jump *= 2
rf += 6 * jump
# END SOLUTION

# %%
assert rf == 404  # VGG-16's published receptive field
assert receptive_field(VGG16(width=1 / 8))[-1]["rf"] == rf

# %% [markdown]
# The same recursion for DeepLab-LargeFOV: its pools are 3x3 (stride 2, then 1), and a dilated
# kernel of size k with dilation d spans d (k - 1) + 1 pixels, so it adds 2 d jumps. conv5
# (dilation 2) and fc6 (3x3, dilation 12) are where the field grows without any subsampling.

# %%
rf_fov, jump = 1, 1
for n_convs, dilation, pool_stride in [(2, 1, 2), (2, 1, 2), (3, 1, 2), (3, 1, 1), (3, 2, 1)]:
    rf_fov += n_convs * 2 * dilation * jump  # 3x3 convs
    rf_fov += 2 * jump                      # the 3x3 pool
    jump *= pool_stride
rf_fov += 2 * 12 * jump                     # fc6: 3x3, dilation 12
print(f"DeepLab-LargeFOV by hand: {rf_fov} pixels (pool5: {rf_fov - 2 * 12 * jump}), output stride {jump}")
assert rf_fov == 419 and jump == 8
assert receptive_field(DeepLab("DeepLab-LargeFOV", width=1 / 8))[-1]["rf"] == rf_fov

# %% [markdown]
# ## How the field grows
#
# Per layer, the field (left) and the jump (right) of both nets. The dashed lines are two image
# sizes for scale: VGG-16's ImageNet input, 224x224 (Simonyan & Zisserman), and the 321x321
# crops DeepLab-LargeFOV trains on (the library's `TrainConfig` default).

# %%
crop = TrainConfig().crop_size
names = [r["layer"] for r in vgg]
fig, ax = plt.subplots(1, 2, figsize=(14, 3.8))
for rows, style, label in [(vgg, "o-", "VGG-16"), (fov, "s-", "DeepLab-LargeFOV")]:
    ax[0].plot([r["rf"] for r in rows], style, ms=4, label=f"{label} (fc8: {rows[-1]['rf']} px)")
    ax[1].plot([r["jump"] for r in rows], style, ms=4, label=label)
for size, text in [(224, "224: VGG-16's ImageNet input"), (crop, f"{crop}: DeepLab's training crop")]:
    ax[0].axhline(size, color="gray", ls="--", lw=0.8)
    ax[0].text(0, size + 6, text, fontsize=8, color="gray")
ax[0].set_ylabel("receptive field (pixels)"); ax[0].legend(fontsize=8, loc="upper left")
ax[1].set_yscale("log", base=2); ax[1].set_yticks([1, 2, 4, 8, 16, 32], [1, 2, 4, 8, 16, 32])
ax[1].set_ylabel("jump = output stride (pixels)"); ax[1].legend(fontsize=8)
for a in ax:
    a.set_xticks(range(len(names)), names, rotation=90, fontsize=7); a.grid(alpha=0.3)
fig.tight_layout()
plt.show()

def added(rows):
    """Pixels each layer adds to the receptive field: {layer: r_l - r_(l-1)}."""
    before = [1] + [r["rf"] for r in rows[:-1]]
    return {r["layer"]: r["rf"] - b for r, b in zip(rows, before)}


add_vgg, add_fov = added(vgg), added(fov)
for n in ("conv1_1", "conv5_1", "fc6"):
    print(f"{n}: adds {add_vgg[n]} pixels in VGG-16, {add_fov[n]} in DeepLab-LargeFOV")
pool_extra = sum(add_fov[n] - add_vgg[n] for n in names if n.startswith("pool"))
print(f"LargeFOV - VGG-16 = {fov[-1]['rf'] - vgg[-1]['rf']} pixels; from the pools: {pool_extra}")
assert add_vgg["conv1_1"] == 2 and add_vgg["conv5_1"] == 32  # the same 3x3 kernel at jump 1 and 16
assert all(add_fov[n] == add_vgg[n] for n in names if not n.startswith("pool"))  # dilation makes up for the jump
assert add_fov["fc6"] == 192 == 2 * 12 * 8 == 6 * 32           # LargeFOV's fc6 spans VGG-16's
assert pool_extra == fov[-1]["rf"] - vgg[-1]["rf"] == 15
assert vgg[-1]["jump"] == 32 and fov[-1]["jump"] == 8
assert next(r["layer"] for r in fov if r["rf"] > crop) == "fc6"          # fc6 sees past the whole crop

# %% [markdown]
# Every convolution adds as many pixels in DeepLab-LargeFOV as in VGG-16. In conv5 the jump is
# 8 instead of 16, and dilation 2 doubles the span of each 3x3 kernel: 2 x 2 x 8 = 32 pixels,
# as in VGG-16. In fc6 the jump is 8 instead of 32, and a 3x3 kernel with dilation 12 spans
# 2 x 12 = 24 cells of 8 pixels, 192 pixels, as VGG-16's 7x7 fc6 spans 6 cells of 32. The
# dilations keep the classifier's context while the output stays at stride 8. The 15 pixels
# LargeFOV has over VGG-16 come only from its 3x3 pools. Up to pool5 neither net's field
# reaches the 321-pixel crop; fc6 takes LargeFOV past it, so a score near the crop's centre can
# use all of the crop.
#
# **A caution for lesson 4.** The DeepLab paper's Table 2 lists an "RF size" of 224 for
# DeepLab-LargeFOV, not 419. That column counts something narrower: the span of fc6's own taps
# in input pixels plus one 32-pixel cell, which for VGG-16's 7x7 fc6 is 6 x 32 + 32 = 224, the
# size of its ImageNet crops. The recursion above counts the full window, with what the 13
# convolutions and 5 pools under fc6 see. Lesson 4 puts the two side by side.
#
# ## Why a large receptive field blurs boundaries
#
# Take a 1-D step edge and pass it through the pooling stack of VGG-16 (average pooling stands
# in for "mixing everything in the window"): the deeper the layer, the longer the ramp over
# which its response goes from one side to the other. Upsampled back to the input's resolution
# (bilinear interpolation, as DeepLab zooms its stride-8 scores), the response of the deepest
# layer crosses the edge over many pixels.

# %%
x = np.zeros((1, 1, 1, 512))
x[..., 256:] = 1.0
plt.figure(figsize=(8, 3))
h = x
for depth in range(1, 6):
    h, _ = nn.avgpool2d_forward(h, (1, 3), (1, 2), (0, 1))
    up, _ = nn.interp_forward(h, (1, 512))
    plt.plot(up[0, 0, 0], label=f"after pool{depth} (stride {2 ** depth})")
plt.plot(x[0, 0, 0], "k--", label="input edge")
plt.xlim(150, 360); plt.legend(fontsize=8); plt.xlabel("pixel"); plt.ylabel("response")
plt.title("a step edge, seen at increasing depth"); plt.show()
ramp = ((up[0, 0, 0] > 0.05) & (up[0, 0, 0] < 0.95)).sum()
print("width of the 5-95% ramp after 5 poolings:", ramp, "pixels")
assert ramp > 2 * 32  # the boundary is smeared over more than two pool5 cells
assert ramp == 87

# %% [markdown]
# After five poolings the response takes 87 pixels to go from 5% to 95% of the step: a label
# boundary taken from it (at 50%) is in the right place here, because the edge is clean and
# alone, but any second edge or texture within those 87 pixels moves it, and a thin object
# narrower than the ramp never reaches a clear majority. This is the price of the large field
# that made the classifier accurate. DeepLab keeps the field (dilation, lessons 4 and 5) and
# lowers the price in two ways: it subsamples by 8 instead of 32, and it sharpens the
# boundaries afterwards with a fully connected CRF (lessons 8-13), which looks at the image's
# colours at full resolution.
#
# ## What you saw
#
# * The receptive field follows $r_l = r_{l-1} + d_l (k_l - 1) j_{l-1}$ with the jump
#   $j_l = j_{l-1} s_l$: the same kernel adds more pixels the deeper it sits.
# * VGG-16's fc6 sees 404 pixels at output stride 32; DeepLab-LargeFOV's 419 at stride 8: its
#   dilations (2 in conv5, 12 in fc6) restore exactly the growth the removed subsampling took.
# * A large field blurs boundaries: after five poolings a step edge becomes an 87-pixel ramp.
#
# **Next:** [04_fc6_subsampling.ipynb](04_fc6_subsampling.ipynb) — fc6's kernel and dilation,
# the paper's field-of-view experiment, and what DeepLab-LargeFOV saves.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (the trade-off between localisation and classification; DeepLab-LargeFOV).
# * K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image
#   Recognition.* ICLR 2015, arXiv:1409.1556 (VGG-16, 224x224 inputs).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (VGG-16's output stride 32 and coarse predictions).
