# %% [markdown]
# # Lesson 3 — The accuracy / localisation trade-off
#
# Each output of a convnet sees a window of the input, its **receptive field** (RF). Layer by
# layer, with kernel `k`, dilation `d`, stride `s` and `J` the output stride so far:
#
# $$RF \leftarrow RF + d\,(k-1)\,J, \qquad J \leftarrow J\,s.$$
#
# A large RF brings context (what is this blob? a cow, because there is grass around it), which
# classification needs; but every output mixes everything in its window, so near a boundary the
# scores change slowly over many pixels: localisation suffers.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.models import DeepLab, VGG16, receptive_field

for model in (VGG16(width=1 / 8), DeepLab("DeepLab-LargeFOV", width=1 / 8)):
    rows = receptive_field(model)
    print(f"{model.name}: output stride {rows[-1]['jump']}, receptive field {rows[-1]['rf']} pixels")
    for r in rows[::4]:
        print(f"   {r['layer']:8s} RF {r['rf']:4d}  stride {r['jump']:2d}")

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
# ## Why a large receptive field blurs boundaries
#
# Take a 1-D step edge and pass it through the pooling stack of VGG-16 (average pooling stands
# in for "mixing everything in the window"): the deeper the layer, the longer the ramp over
# which its response goes from one side to the other.

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
plt.xlim(150, 360); plt.legend(fontsize=8); plt.title("a step edge, seen at increasing depth"); plt.show()
ramp = ((up[0, 0, 0] > 0.05) & (up[0, 0, 0] < 0.95)).sum()
print("width of the 5-95% ramp after 5 poolings:", ramp, "pixels")
assert ramp > 32  # the boundary is smeared over more than a pool5 cell
