# %% [markdown]
# # Lesson 1 — Semantic segmentation: the task, the data, the scores
#
# Semantic segmentation gives **every pixel a class label**. The output is a *label map*: an
# integer image with one class index per pixel, shown in colour through a *palette*. Pixels
# that are ambiguous or unannotated are *void* (label 255) and are ignored in training and
# evaluation.
#
# | dataset | images | classes | annotations |
# |---|---|---|---|
# | PASCAL VOC 2012 | O(10K) (1,464 train + 10,582 with SBD) | 20 + background | pixels, boxes |
# | MS COCO | O(100K) | 80 + background | pixels (polygons), boxes, captions |
# | MSRC-21 | 591 | 21 (no background class) | pixels (coarse, cleaned up later) |
#
# This lesson makes the task concrete on generated scenes (no download needed) and computes
# the two standard scores by hand, then with the library.

# %%
import numpy as np
import matplotlib.pyplot as plt

from minideeplab.datasets import SyntheticScenes
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.viz import colorize, overlay, show_rows, voc_palette

scenes = SyntheticScenes(4, size=(96, 128), num_classes=4, objects=(2, 4), seed=1)
print("classes:", scenes.class_names)
image, label = scenes[0]
print("image", image.shape, image.dtype, "| label map", label.shape, label.dtype, "| values", np.unique(label))

# %% [markdown]
# A label map is just integers; the palette turns class `c` into a colour (the PASCAL VOC
# colour map spreads the bits of `c` over R, G and B: 1 is dark red, 2 dark green, ...).

# %%
print("VOC palette, first 5 classes:", voc_palette()[:5].tolist())
fig = show_rows([[scenes[i][0], scenes[i][1], overlay(scenes[i][0], scenes[i][1])] for i in range(3)],
                ["image", "label map", "overlay"])
plt.show()

# %% [markdown]
# ## Scoring a prediction
#
# Let a "prediction" be the ground truth with some damage: a block of pixels marked as class 1.
# Accumulate the **confusion matrix** `conf[true, predicted]` (void pixels skipped):
#
# * global pixel accuracy = `trace(conf) / conf.sum()`
# * class-average accuracy = mean over classes of `conf[c, c] / conf[c, :].sum()`
# * **intersection over union** of class c = `TP / (TP + FP + FN)`, and the mean IoU over classes
#   — the measure of PASCAL VOC, which punishes both missed and spurious pixels.

# %%
truth = label.astype(np.int64)
truth[:5] = 255  # a void band at the top, as annotators leave at uncertain boundaries
pred = label.astype(np.int64).copy()
pred[40:70, 10:60] = 1  # the damage

# %% tags=["solution"]
# Exercise: compute the confusion matrix `conf` (4 x 4) and the mean IoU `miou` by hand,
# with NumPy only (skip the void pixels).
# BEGIN SOLUTION
valid = truth != 255
conf = np.zeros((4, 4), dtype=np.int64)
np.add.at(conf, (truth[valid], pred[valid]), 1)
tp = np.diag(conf)
iou = tp / (conf.sum(0) + conf.sum(1) - tp)
miou = iou.mean()
# END SOLUTION

# %%
lib = summarize(confusion_matrix(truth, pred, 4))
print("by hand: mIoU", round(float(miou), 4), "| library:", {k: round(v, 4) for k, v in lib.items() if np.isscalar(v)})
assert np.array_equal(conf, confusion_matrix(truth, pred, 4))
assert abs(miou - lib["mean_iou"]) < 1e-12
assert lib["global_acc"] > lib["mean_iou"]  # the damage costs IoU more than pixel accuracy

# %% [markdown]
# The damaged block is a small share of all pixels, so the global accuracy barely moves, but
# it both removes true pixels of their class and adds false ones to class 1: IoU counts both.
