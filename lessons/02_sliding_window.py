# %% [markdown]
# # Lesson 2 — Convnets as sliding-window classifiers
#
# A convnet that classifies the **centre pixel of a patch** can label a whole image by sliding
# over it: one forward pass per pixel. But a convnet *is* a sliding operation: run it once on
# the whole image (no padding inside) and every output pixel is the classifier applied to the
# patch around it. Same numbers, far less work, because neighbouring patches share most of
# their computation. This is the "fully convolutional" view that DeepLab starts from.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.datasets import SyntheticScenes, preprocess
from minideeplab.nn import Conv2d, ReLU, Sequential
from minideeplab.optim import SGD
from minideeplab.viz import show_rows

P = 11  # patch size: the classifier sees an 11 x 11 window
L = 4
rng = np.random.default_rng(0)
net = Sequential([Conv2d(3, 16, 5, name="c1"), ReLU("r1"), Conv2d(16, 16, 5, name="c2"), ReLU("r2"),
                  Conv2d(16, 16, 3, name="c3"), ReLU("r3"), Conv2d(16, L, 1, name="score")])
for layer in net.layers:
    if layer.params:
        w = layer.params["weight"]
        layer.params["weight"] = (rng.standard_normal(w.shape) * np.sqrt(2 / np.prod(w.shape[1:]))).astype(np.float32)
print("an", P, "x", P, "patch gives a", net.forward(np.zeros((1, 3, P, P), np.float32)).shape, "score")

# %% [markdown]
# ## Train the centre-pixel classifier on patches

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
plt.plot(np.convolve(losses, np.ones(20) / 20, mode="valid"))
plt.xlabel("iteration"); plt.ylabel("loss (running mean)"); plt.show()

# %% [markdown]
# ## Label a test image two ways
#
# Pad the image by `P // 2` so that every pixel has a full patch, then either classify the
# patches one by one (sliding window) or run the net once on the padded image.

# %%
test_img, test_label = SyntheticScenes(1, (48, 64), L, objects=(2, 4), seed=7, radius=(0.15, 0.3))[0]
x = np.pad(preprocess(test_img) / 58, ((0, 0), (P // 2, P // 2), (P // 2, P // 2)))
H, W = test_label.shape

t = time.perf_counter()
patches = np.stack([x[:, r:r + P, c:c + P] for r in range(H) for c in range(W)])
sliding = np.concatenate([net.forward(patches[k:k + 512]) for k in range(0, len(patches), 512)])
sliding = sliding[:, :, 0, 0].reshape(H, W, L).transpose(2, 0, 1)
t_sliding = time.perf_counter() - t

# %% tags=["solution"]
# Exercise: compute `dense`, the (L, H, W) scores of all pixels with ONE forward pass of `net`.
# BEGIN SOLUTION
t = time.perf_counter()
dense = net.forward(x[None])[0]
t_dense = time.perf_counter() - t
# END SOLUTION

# %%
print(f"sliding window: {t_sliding:.3f} s for {H * W} patches; one pass: {t_dense:.3f} s "
      f"({t_sliding / t_dense:.0f}x faster)")
print("pixel accuracy:", (dense.argmax(0) == test_label).mean().round(3))
assert dense.shape == (L, H, W)
assert np.abs(dense - sliding).max() < 1e-4 * np.abs(sliding).max()  # the very same scores
assert (dense.argmax(0) == test_label).mean() > 0.8

# %%
show_rows([[test_img, test_label, dense.argmax(0)]], ["image", "truth", "fully convolutional"])
plt.show()
