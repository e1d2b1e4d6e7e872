# %% [markdown]
# # Lesson 15 — Weaker annotations: boxes and image labels
#
# Pixel-accurate labels are expensive; boxes and image-level tags are cheap. Papandreou et al.
# (ICCV 2015) train DeepLab from them by *estimating* the pixel labels:
#
# * **Bbox-Rect**: fill each box with its class (smaller boxes win overlaps).
# * **Bbox-Seg**: trust the centre of the box (P = 0.75), be unsure in the rest of the box
#   (0.5 / 0.5), and let the **fully connected CRF** find the object's outline.
# * **EM-Adapt** (image labels only): bias the network's scores so that each class present in
#   the image gets at least a fraction of its pixels (40% background, 20% foreground), suppress
#   the absent classes, and train on the arg max.
# * **EM-Fixed** (the semi-supervised mix): fixed biases instead of adaptive ones.
#
# Generated scenes have a background class (like PASCAL VOC), so the algorithms apply as
# published.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter

from minideeplab.datasets import SyntheticScenes
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.viz import show_rows
from minideeplab.weak import bbox_rect, bbox_seg, boxes_from_labels, em_adapt, em_fixed, image_tags

scenes = SyntheticScenes(6, (96, 128), 4, objects=(1, 3), seed=21, radius=(0.15, 0.3), noise=8.0)
image, truth = scenes[0]
boxes = [b for b in boxes_from_labels(truth, 4) if b[0] != 0]  # one box per object
print("boxes (class, y0, x0, y1, x1):", boxes)

# %% tags=["solution"]
# Exercise: Bbox-Rect by hand. Start from all background (0) and fill the boxes, the largest
# first, so that smaller boxes win where they overlap. Store the result in `rect`.
# BEGIN SOLUTION
rect = np.zeros(truth.shape, np.uint8)
for c, y0, x0, y1, x1 in sorted(boxes, key=lambda b: -(b[3] - b[1]) * (b[4] - b[2])):
    rect[y0:y1, x0:x1] = c
# END SOLUTION

# %%
assert np.array_equal(rect, bbox_rect(truth.shape, boxes))
seg = bbox_seg(image, boxes, 4)
miou = lambda est, gt: summarize(confusion_matrix(gt, est, 4))["mean_iou"]
print(f"estimated labels, mIoU against the truth: Bbox-Rect {miou(rect, truth):.3f}, Bbox-Seg {miou(seg, truth):.3f}")
show_rows([[image, truth, rect, seg]], ["image", "truth", "Bbox-Rect", "Bbox-Seg (CRF)"])
plt.show()

# %% [markdown]
# Over all six scenes:

# %%
r_all, s_all = [], []
for i in range(len(scenes)):
    img, gt = scenes[i]
    bx = [b for b in boxes_from_labels(gt, 4) if b[0] != 0]
    r_all.append(miou(bbox_rect(gt.shape, bx), gt))
    s_all.append(miou(bbox_seg(img, bx, 4), gt))
print(f"mean over {len(scenes)} scenes: Bbox-Rect {np.mean(r_all):.3f}, Bbox-Seg {np.mean(s_all):.3f}")
assert np.mean(s_all) > np.mean(r_all)  # the CRF recovers the shapes inside the boxes

# %% [markdown]
# ## Image-level labels: EM-Adapt
#
# Suppose a half-trained network gives these scores (a noisy, blurred version of the truth,
# overconfident about one class). The image's tags say which classes are present.

# %%
rng = np.random.default_rng(0)
logits = gaussian_filter(3.0 * np.eye(4)[truth].transpose(2, 0, 1), (0, 6, 6)) + rng.normal(0, 0.6, (4,) + truth.shape)
logits[1] += 1.0  # a bias towards class 1, whether present or not
tags = image_tags(truth, 4)
adapt = em_adapt(logits, tags)
fixed = em_fixed(logits, tags)
share = np.bincount(adapt.ravel(), minlength=4) / adapt.size
print("tags:", tags, "| EM-Adapt shares per class:", share.round(3))
print(f"mIoU: plain arg max {miou(logits.argmax(0), truth):.3f}, EM-Fixed {miou(fixed, truth):.3f}, "
      f"EM-Adapt {miou(adapt, truth):.3f}")
show_rows([[image, truth, logits.argmax(0), fixed, adapt]], ["image", "truth", "arg max", "EM-Fixed", "EM-Adapt"])
plt.show()
absent = [c for c in range(4) if c not in tags]
assert all(share[c] == 0 for c in absent)
assert share[0] >= 0.4 and all(share[c] >= 0.2 for c in tags if c != 0)  # each present class got its share
assert miou(adapt, truth) > miou(logits.argmax(0), truth)

# %% [markdown]
# ## Training on MSRC-21 with each kind of label
#
# The library's trainer runs all five settings with one command each
# (`minideeplab train --dataset msrc --supervision S ...`, the shipped model's first schedule,
# about an hour per run on one CPU core, so not here). Measured on the 256 test images after
# the fully connected CRF (`benchmarks/RESULTS.md` has the commands, the figures and the
# discussion):
#
# | supervision | global | mIoU |
# |---|---|---|
# | strong (all pixel labels) | 69.4 | 40.9 |
# | semi (1/4 pixel labels, the rest image tags, EM-Fixed) | 55.5 | 22.5 |
# | Bbox-Seg | 64.5 | 31.0 |
# | Bbox-Rect | 64.4 | 36.8 |
# | EM-Adapt (image tags only) | 37.1 | 16.1 |
#
# Pixel labels win and image tags alone are far behind, as in the paper. Two things differ
# from it, and both are worth thinking about: the semi-supervised net starts from random
# weights, so its E-step labels are its own early mistakes (the paper starts from ImageNet
# weights); and MSRC's boxes of grass, sky or road tile the image, so Bbox-Rect's labels are
# already good, while Bbox-Seg's strong CRF lets those classes swallow small objects.
