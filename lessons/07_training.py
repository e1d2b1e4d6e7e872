# %% [markdown]
# # Lesson 7 — Training a small DeepLab
#
# DeepLab-LargeFOV at 1/8 of the paper's width, trained from scratch on generated scenes with
# the library's trainer: random crops and mirroring, BGR mean subtraction, labels shrunk by 8
# to the score map's size, SGD with momentum and a "poly" learning rate. Then we look at what
# the network outputs: **coarse score maps**, one per class, at output stride 8.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.datasets import SyntheticScenes, pad_to_multiple, preprocess
from minideeplab.models import DeepLab
from minideeplab.predict import predict_scores
from minideeplab.train import Trainer, TrainConfig

kw = dict(objects=(1, 3), radius=(0.2, 0.35))
train = SyntheticScenes(200, (65, 65), 4, seed=0, **kw)
test = SyntheticScenes(12, (65, 65), 4, seed=99, **kw)
model = DeepLab("DeepLab-LargeFOV", num_classes=4, width=1 / 8, seed=0, dropout=0.0)
cfg = TrainConfig(crop_size=65, batch_size=4, max_iter=500, base_lr=1e-2, lr_policy="poly", seed=0,
                  classifier_lr_mult=1.0)
losses = Trainer(model, train, cfg).fit(progress=False)
plt.plot(np.convolve(losses, np.ones(25) / 25, mode="valid"))
plt.xlabel("iteration"); plt.ylabel("loss (running mean of 25)"); plt.show()

# %% [markdown]
# ## The coarse score maps
#
# For a 65x65 input the network gives 9x9 scores per class (stride 8). DeepLab zooms them by 8
# with bilinear interpolation (aligned corners: 9 -> 65 exactly) and takes the arg max.

# %%
image, truth = test[0]
x = pad_to_multiple(preprocess(image))[None]
model.eval()
coarse = model.forward(x)[0]
print("input", x.shape[2:], "-> scores", coarse.shape)

# %% tags=["solution"]
# Exercise: zoom `coarse` (L, 9, 9) by 8 to (L, 65, 65) with nn.interp_forward (it takes
# (N, C, H, W)) and take the arg max over classes: `labels`, (65, 65).
# BEGIN SOLUTION
up, _ = nn.interp_forward(coarse[None], (nn.zoom_size(coarse.shape[1], 8), nn.zoom_size(coarse.shape[2], 8)))
labels = up[0].argmax(0)
# END SOLUTION

# %%
assert labels.shape == truth.shape
assert np.array_equal(labels, predict_scores(model, image).argmax(0))
accs = [np.mean(predict_scores(model, test[i][0]).argmax(0) == test[i][1]) for i in range(len(test))]
background = np.mean([np.mean(test[i][1] == 0) for i in range(len(test))])
print(f"pixel accuracy on {len(test)} new scenes: {np.mean(accs):.3f} (all background: {background:.3f})")
assert np.mean(losses[-50:]) < 0.6 * np.mean(losses[:50])
assert np.mean(accs) > background + 0.05

# %%
fig, ax = plt.subplots(1, 6, figsize=(13, 2.6))
ax[0].imshow(image); ax[0].set_title("image")
for c in range(4):
    ax[c + 1].imshow(coarse[c], cmap="viridis"); ax[c + 1].set_title(f"score: {train.class_names[c]}")
ax[5].imshow(labels, vmin=0, vmax=3); ax[5].set_title("zoomed arg max")
for a in ax:
    a.axis("off")
plt.show()

# %% [markdown]
# The boundaries are blobby: each score comes from a large receptive field and is sampled every
# 8 pixels. Recovering sharp boundaries is the CRF's job (lessons 8-13).
