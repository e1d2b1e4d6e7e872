# %% [markdown]
# # Lesson 7 — Training a small DeepLab
#
# DeepLab-LargeFOV at 1/8 of the paper's width, trained from scratch on generated scenes with
# the library's trainer. One iteration:
#
# 1. **sample** a batch of 4 scenes, each cropped to 65x65 (here the whole scene) and mirrored
#    at random, converted to BGR with the mean colour subtracted (Caffe's VGG-16 preprocessing);
# 2. **forward** through the network to stride-8 scores, and **shrink the labels by 8** to
#    the score map's size (the loss is computed on the coarse grid, as in DeepLab);
# 3. **backward** from the softmax cross-entropy (lesson 6), layer by layer;
# 4. **step**: SGD with momentum 0.9 and weight decay, at a "poly" learning rate
#    `base_lr * (1 - iter / max_iter)^0.9` that falls smoothly to 0.
#
# Then we look at what the network outputs: **coarse score maps**, one per class, at output
# stride 8, and score it on new scenes.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np

from minideeplab import nn
from minideeplab.datasets import SyntheticScenes, pad_to_multiple, preprocess
from minideeplab.metrics import boundary_band, confusion_matrix, summarize
from minideeplab.models import DeepLab
from minideeplab.predict import predict_scores
from minideeplab.train import Trainer, TrainConfig

kw = dict(objects=(1, 3), radius=(0.2, 0.35))
train = SyntheticScenes(200, (65, 65), 4, seed=0, **kw)
test = SyntheticScenes(12, (65, 65), 4, seed=99, **kw)
model = DeepLab("DeepLab-LargeFOV", num_classes=4, width=1 / 8, seed=0, dropout=0.0)
cfg = TrainConfig(crop_size=65, batch_size=4, max_iter=500, base_lr=5e-3, lr_policy="poly", seed=0,
                  classifier_lr_mult=1.0)
trainer = Trainer(model, train, cfg)
losses = trainer.fit(max_iter=100, progress=False)  # the first 100 iterations ...
print(f"loss: {np.mean(losses[:25]):.3f} over the first 25 iterations, {np.mean(losses[75:100]):.3f} over 75-100")
assert np.mean(losses[75:100]) < 0.8 * np.mean(losses[:25])  # the steps do something

# %% [markdown]
# A loss that has not moved after 100 iterations means no learning at all (a zero gradient,
# a step that changes nothing); better to know before the remaining 400. The second call
# continues where the first stopped, with the same schedule, as if it were one run.

# %%
losses += trainer.fit(progress=False)  # ... and the other 400
plt.plot(losses, alpha=0.3, label="per iteration")
plt.plot(np.arange(12, len(losses) - 12), np.convolve(losses, np.ones(25) / 25, mode="valid"), label="running mean of 25")
plt.xlabel("iteration"); plt.ylabel("softmax cross-entropy"); plt.legend(); plt.show()
assert len(losses) == cfg.max_iter
assert np.mean(losses[-50:]) < 0.5 * np.mean(losses[:50])

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

fig, ax = plt.subplots(1, 7, figsize=(15, 2.6))
ax[0].imshow(image); ax[0].set_title("image")
for c in range(4):
    ax[c + 1].imshow(coarse[c], cmap="viridis"); ax[c + 1].set_title(f"score: {train.class_names[c]}")
ax[5].imshow(labels, vmin=0, vmax=3); ax[5].set_title("zoomed arg max")
ax[6].imshow(truth, vmin=0, vmax=3); ax[6].set_title("truth")
for a in ax:
    a.axis("off")
plt.show()

# %% [markdown]
# ## How good is it?
#
# Pixel accuracy alone says little here: about 70% of the pixels are background, so a net
# that answers "background" everywhere would get 0.7 (lesson 1). The bar is a **fixed
# baseline** that knows everything the training labels say without looking at the image:
# at every position, the class most frequent there over the 200 training scenes. And the
# scores that weigh each class once: class-average accuracy and mean IoU, from one confusion
# matrix over the 12 new scenes.

# %%
train_images, train_labels = map(np.stack, zip(*(train[i] for i in range(len(train)))))
prior = np.stack([(train_labels == c).sum(0) for c in range(4)]).argmax(0)  # (65, 65): mostly background
preds = [predict_scores(model, test[i][0]).argmax(0) for i in range(len(test))]
truths = [test[i][1] for i in range(len(test))]
net = summarize(sum(confusion_matrix(t, p, 4) for t, p in zip(truths, preds)))
base = summarize(sum(confusion_matrix(t, prior, 4) for t in truths))
for name, s in (("network", net), ("most frequent class per position", base)):
    print(f"{name:33s} global {s['global_acc']:.3f}  class-average {s['class_avg_acc']:.3f}  "
          f"mean IoU {s['mean_iou']:.3f}  per-class accuracy {np.round(s['per_class_acc'], 2)}")
# measured when this lesson was written: class-average 0.79, mean IoU 0.70, every shape class
# above 0.7 (the baseline: 0.25, 0.18 and about 0); the bars leave a margin for other machines
assert net["class_avg_acc"] > 0.65 and net["mean_iou"] > 0.55
assert net["class_avg_acc"] > base["class_avg_acc"] + 0.35
assert net["per_class_acc"][1:].min() > 0.5  # every shape class is found, not just the background

# %% [markdown]
# So the network has learned to recognise the three shapes: each is found more often than
# not, where the positional prior finds none of them. It is not a good segmenter yet: these
# scenes give each class its own colour, and a rule that labels each pixel by the nearest
# mean colour of the training classes scores better still. Trained from scratch for 500
# iterations, the net has only partly caught up (DeepLab starts from ImageNet-trained weights
# and trains for thousands of iterations). Where it errs tells why it needs the CRF:

# %%
means = np.stack([train_images[train_labels == c].mean(0) for c in range(4)])  # (4, 3) RGB
colour_rule = [((test[i][0][:, :, None, :] - means) ** 2).sum(-1).argmin(-1) for i in range(len(test))]
colour = summarize(sum(confusion_matrix(t, p, 4) for t, p in zip(truths, colour_rule)))
print(f"nearest mean colour: global {colour['global_acc']:.3f}  class-average {colour['class_avg_acc']:.3f}")
near = np.concatenate([boundary_band(t, 4).ravel() for t in truths])
right = np.concatenate([(p == t).ravel() for t, p in zip(truths, preds)])
print(f"network: accuracy {right[near].mean():.3f} within 4 pixels of a boundary ({near.mean():.0%} of the "
      f"pixels), {right[~near].mean():.3f} farther away")
assert right[near].mean() < right[~near].mean() - 0.15

# %% [markdown]
# The errors crowd at the boundaries: each score comes from a large receptive field and is
# sampled every 8 pixels, so the zoomed arg max is blobby. Recovering sharp boundaries is the
# CRF's job (lessons 8-13).
#
# ## What you saw
#
# * One training iteration: sample and preprocess, forward to stride-8 scores against labels
#   shrunk by 8, backward, an SGD step at the poly learning rate.
# * The network outputs a 9x9 score map per class for a 65x65 image; zoomed by 8 and arg-maxed
#   it labels every pixel.
# * It beats the best image-blind guess by a wide margin on every class, and its errors
#   concentrate within a few pixels of the boundaries.
#
# **Next:** [08_crf_loglinear.ipynb](08_crf_loglinear.ipynb) — the CRF that will sharpen those
# boundaries, as a log-linear model.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (DeepLab-LargeFOV, the labels shrunk by 8, the bilinear zoom).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (training a fully convolutional net on whole images with a
#   per-pixel loss).
