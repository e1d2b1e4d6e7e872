# %% [markdown]
# # Lesson 6 — Backpropagation from scratch
#
# Every op in minideeplab is a pair: `out, cache = op_forward(...)` and
# `grads = op_backward(dout, cache)`. Backward receives dL/d(out) and returns dL/d(inputs) by the
# chain rule. We check each against a **numerical gradient** (central differences in float64):
# a relative error around 1e-8 or below means the backward is right; above 1e-6, a bug.

# %%
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.nn import numerical_gradient, rel_error

rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 9, 9))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)

out, cache = nn.conv2d_im2col_forward(x, w, b, stride=1, padding=2, dilation=2)
dout = rng.standard_normal(out.shape)
dx, dw, db = nn.conv2d_im2col_backward(dout, cache)
f = lambda: nn.conv2d_im2col_forward(x, w, b, 1, 2, 2)[0]
for name, analytic, arr in (("dx", dx, x), ("dw", dw, w), ("db", db, b)):
    print(f"atrous conv {name}: relative error {rel_error(analytic, numerical_gradient(f, arr, dout)):.1e}")

# %%
pooled, pcache = nn.maxpool2d_forward(x, 3, 2, 1)
dp = rng.standard_normal(pooled.shape)
err = rel_error(nn.maxpool2d_backward(dp, pcache), numerical_gradient(lambda: nn.maxpool2d_forward(x, 3, 2, 1)[0], x, dp))
print(f"max pool 3x3/2 (Caffe rounding): relative error {err:.1e}")
scores = rng.standard_normal((2, 5, 4, 4))
labels = rng.integers(0, 5, (2, 4, 4))
labels[0, 0] = 255  # void pixels contribute nothing
loss, lcache = nn.softmax_cross_entropy_forward(scores, labels)
err = rel_error(nn.softmax_cross_entropy_backward(lcache),
                numerical_gradient(lambda: nn.softmax_cross_entropy_forward(scores, labels)[0], scores, 1.0))
print(f"softmax cross-entropy with ignore_index: relative error {err:.1e}")

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
# The error of central differences falls as h^2 until round-off (about eps / h) takes over:

# %%
hs = np.logspace(-9, -1, 17)
errs = [rel_error(dx, numerical_gradient(f, x, dout, h=h)) for h in hs]
plt.loglog(hs, errs, "o-"); plt.xlabel("step h"); plt.ylabel("relative error of dx"); plt.show()
assert min(errs) < 1e-8
