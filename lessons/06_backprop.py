# %% [markdown]
# # Lesson 6 — Backpropagation from scratch
#
# Every op in minideeplab is a pair: `out, cache = op_forward(...)` and
# `grads = op_backward(dout, cache)`. The forward keeps in `cache` what the backward will need
# (the input, the im2col columns, the winner of each pooling window, the softmax). Backward
# receives dL/d(out) and returns dL/d(inputs) by the chain rule: the product of the op's
# Jacobian (transposed) with `dout`, computed without ever forming the Jacobian.
#
# We check each backward against a **numerical gradient**: the central difference
# `(L(x + h e_i) - L(x - h e_i)) / 2h` for every entry i, with `L = sum(out * dout)` for a
# random `dout` (one random direction tests the whole Jacobian at once), in float64. The
# distance is `rel_error(a, b) = max|a - b| / max(|a| + |b|)`: around 1e-8 or below means the
# backward is right; above 1e-6, a bug.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.nn import numerical_gradient, rel_error

BAR = 1e-7  # a correct backward lands one or two orders below this; a missing term far above
rng = np.random.default_rng(0)

# %% [markdown]
# ## The atrous convolution
#
# Forward: `out = W @ cols(x) + b`, where `cols` (im2col) lays out, for every output
# position, the input pixels its dilated kernel reads. Backward, three terms:
#
# * `dW = dout @ cols^T` (each weight met every position it was used at);
# * `db = sum of dout over the positions`;
# * `dx = col2im(W^T @ dout)`: each column entry is added back to the pixel it was read from,
#   so a pixel read by several windows receives the sum of their terms.

# %%
x = rng.standard_normal((2, 3, 9, 9))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)

out, cache = nn.conv2d_im2col_forward(x, w, b, stride=1, padding=2, dilation=2)
dout = rng.standard_normal(out.shape)
dx, dw, db = nn.conv2d_im2col_backward(dout, cache)
f = lambda: nn.conv2d_im2col_forward(x, w, b, 1, 2, 2)[0]
for name, analytic, arr in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
    err = rel_error(analytic, numerical_gradient(f, arr, dout))
    print(f"atrous conv {name}: relative error {err:.1e}")
    assert err < BAR, name

# %% [markdown]
# ## Max pooling and the loss
#
# Max pooling passes each window's gradient to its winner only (the cache keeps which input
# won); with 3x3 windows at stride 2 the windows overlap, and a pixel that wins two windows
# collects both terms. The pixel-wise softmax cross-entropy, averaged over the `n` non-void
# pixels, has the gradient `(softmax(s) - onehot(y)) / n` with respect to the scores `s`, and
# 0 at void pixels (label 255): it pushes the true class's score up and every other one down.

# %%
pooled, pcache = nn.maxpool2d_forward(x, 3, 2, 1)
dp = rng.standard_normal(pooled.shape)
err = rel_error(nn.maxpool2d_backward(dp, pcache), numerical_gradient(lambda: nn.maxpool2d_forward(x, 3, 2, 1)[0], x, dp))
print(f"max pool 3x3/2 (Caffe rounding): relative error {err:.1e}")
assert err < BAR

scores = rng.standard_normal((2, 5, 4, 4))
labels = rng.integers(0, 5, (2, 4, 4))
labels[0, 0] = 255  # void pixels contribute nothing
loss, lcache = nn.softmax_cross_entropy_forward(scores, labels)
dscores = nn.softmax_cross_entropy_backward(lcache)
loss_of_scores = lambda: nn.softmax_cross_entropy_forward(scores, labels)[0]
err = rel_error(dscores, numerical_gradient(loss_of_scores, scores, 1.0))
print(f"softmax cross-entropy with ignore_index: relative error {err:.1e}")
assert err < BAR
assert np.all(dscores[0, :, 0, 0] == 0)  # the void pixel
assert np.allclose(dscores.sum(1), 0)     # softmax and one-hot both sum to one over the classes

# %% [markdown]
# ## Write one yourself: ReLU
#
# `relu(x) = max(x, 0)`; its derivative is 1 where x > 0 and 0 elsewhere.

# %% tags=["solution"]
# Exercise: write relu_forward(x) -> (out, cache) and relu_backward(dout, cache) -> dx.
# BEGIN SOLUTION
def relu_forward(x):
    return np.maximum(x, 0), x > 0


def relu_backward(dout, cache):
    return dout * cache
# END SOLUTION

# %%
xr = rng.standard_normal((3, 4, 5))
out, c = relu_forward(xr)
dr = rng.standard_normal(out.shape)
num = numerical_gradient(lambda: relu_forward(xr)[0], xr, dr)
print(f"your ReLU: relative error {rel_error(relu_backward(dr, c), num):.1e}")
assert rel_error(relu_backward(dr, c), num) < 1e-8
assert np.array_equal(out, nn.relu_forward(xr)[0])

# %% [markdown]
# ## What a gradient check can see
#
# By Taylor's theorem the central difference is
# `(f(x + h) - f(x - h)) / 2h = f'(x) + h^2 f'''(x) / 6 + ...`: a **truncation error** that
# falls as h^2. But f is computed to a relative precision eps ~ 1e-16, so the difference of
# two nearly equal values carries a **round-off error** of about eps |f| / h, which grows as
# h shrinks. The total error is smallest in between (near h ~ eps^(1/3) ~ 1e-5) and draws a
# V on log-log axes: slope 2 on the right, slope -1 on the left.
#
# The softmax cross-entropy is non-linear in the scores and shows both branches. The atrous
# convolution is **linear** in x: its third derivative is 0, its central differences have no
# truncation error at all, and only the round-off branch is left, falling all the way to
# h = 0.1.

# %%
hs = np.logspace(-12, -1, 23)
errs = np.array([rel_error(dscores, numerical_gradient(loss_of_scores, scores, 1.0, h=h)) for h in hs])
errs_lin = np.array([rel_error(dx, numerical_gradient(f, x, dout, h=h)) for h in hs])
plt.loglog(hs, errs, "o-", label="softmax cross-entropy (non-linear)")
plt.loglog(hs, errs_lin, "s-", label="atrous conv, dx (linear in x)")
plt.loglog(hs, errs[-1] * (hs / hs[-1]) ** 2, "k:", label="slope 2 (h^2)")
plt.loglog(hs, errs[0] * hs[0] / hs, "k--", label="slope -1 (eps / h)")
plt.ylim(1e-15, 1e-1); plt.xlabel("step h"); plt.ylabel("relative error"); plt.legend(fontsize=8); plt.show()

best = int(np.argmin(errs))
slope_right = np.log10(errs[-1] / errs[-5]) / np.log10(hs[-1] / hs[-5])  # h from 1e-3 to 1e-1
slope_left = np.log10(errs[6] / errs[0]) / np.log10(hs[6] / hs[0])       # h from 1e-12 to 1e-9
print(f"cross-entropy: best h {hs[best]:.0e} (error {errs[best]:.1e}); error {errs[-1]:.1e} at h = 0.1, "
      f"{errs[0]:.1e} at h = 1e-12; slopes {slope_right:.2f} (right), {slope_left:.2f} (left)")
print(f"linear conv: error {errs_lin[-1]:.1e} at h = 0.1")
assert 1e-7 < hs[best] < 1e-3
assert errs[best] < 1e-3 * errs[-1] and errs[best] < 1e-3 * errs[0]  # a V: both ends far above the bottom
assert 1.8 < slope_right < 2.2 and -1.3 < slope_left < -0.7
assert errs_lin[-1] < 1e-12 and errs_lin[-1] < 1e-3 * errs[-1]  # no truncation error for a linear op

# %% [markdown]
# The library's default h = 1e-6 sits a little left of the bottom of the V (an error near
# 1e-9 here, well under the bar); a larger h costs nothing for a linear op but adds h^2 error
# for a non-linear one, and a much smaller h drowns any op in round-off. (Max pooling and
# ReLU are piecewise linear: their checks are exact unless a step of h crosses a kink, which
# random inputs make unlikely.)
#
# ## What you saw
#
# * Each op is a forward/backward pair; the backward computes the Jacobian-transpose product
#   with `dout` from what the forward cached.
# * A numerical gradient checks it: a relative error around 1e-9 when right, orders of
#   magnitude more when a term is missing.
# * The check's own error is h^2 truncation plus eps / h round-off, a V with its bottom near
#   h = 1e-5; a linear op has the round-off branch only.
#
# **Next:** [07_training.ipynb](07_training.ipynb) — these gradients, chained through a whole
# DeepLab, train it with SGD.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (the atrous convolution, max pooling and pixel-wise softmax loss checked here).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (training a whole-image net by backpropagation of a per-pixel loss).
