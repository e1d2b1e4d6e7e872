# %% [markdown]
# # Lesson 5 — Explicit control of response density: the atrous algorithm
#
# A classification net has output stride 32: one score per 32x32 block. To get denser scores
# without retraining, remove a subsampling (stride 2 -> 1) and **dilate** every later kernel
# by 2 ("à trous": with holes). Three views of the same operation:
#
# 1. dilated convolution: `y[i] = sum_k w[k] x[i + d k]`;
# 2. an ordinary convolution with a kernel that has `d - 1` zeros inserted between taps;
# 3. *shift and stitch*: subsample the input at each of the `d` phases, run the ordinary
#    convolution on each, and interleave the outputs.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn

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
# ## In 2-D, inside a network
#
# A "classification" branch: conv, 2x2 max pool with stride 2, conv (stride-2 output). The
# "DeepLab" branch: the same conv, the pool with stride 1, and the second conv **dilated by 2**.
# Its output is dense, and the stride-2 output is exactly every other pixel of it.

# %%
x2 = rng.standard_normal((1, 3, 32, 32))  # even: no partial pooling window at the border
w1 = rng.standard_normal((8, 3, 3, 3))
w2 = rng.standard_normal((4, 8, 3, 3))
h, _ = nn.conv2d_im2col_forward(x2, w1, None, 1, 1)
coarse, _ = nn.conv2d_im2col_forward(nn.maxpool2d_forward(h, 2, 2)[0], w2, None, 1, 0)
dense, _ = nn.conv2d_im2col_forward(nn.maxpool2d_forward(h, 2, 1)[0], w2, None, 1, 0, dilation=2)
print("coarse", coarse.shape, "dense", dense.shape)
# 32 -> pool stride 2 -> 16 -> 3x3 conv -> 14; 32 -> pool stride 1 -> 31 -> 3x3 conv dilated by 2
# (it spans 5 pixels) -> 27 = 2 * 14 - 1: one output per input position of the pooled map
assert coarse.shape[2:] == (14, 14) and dense.shape[2:] == (27, 27)
assert np.abs(dense[:, :, ::2, ::2] - coarse).max() < 1e-5
# and the dilated conv equals a conv with a zero-inserted 5x5 kernel
w2_holes = np.zeros((4, 8, 5, 5))
w2_holes[:, :, ::2, ::2] = w2
same, _ = nn.conv2d_im2col_forward(nn.maxpool2d_forward(h, 2, 1)[0], w2_holes, None, 1, 0)
assert np.abs(same - dense).max() < 1e-5

fig, ax = plt.subplots(1, 2, figsize=(7, 3.2))
ax[0].imshow(coarse[0, 0]); ax[0].set_title(f"stride 2: {coarse.shape[2]}x{coarse.shape[3]}")
ax[1].imshow(dense[0, 0]); ax[1].set_title(f"atrous, stride 1: {dense.shape[2]}x{dense.shape[3]}")
plt.show()
