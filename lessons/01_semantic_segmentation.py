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
# the standard scores by hand, then with the library, on examples small enough to check with
# pencil and paper.

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
# ## The confusion matrix, by hand
#
# Every score starts from the **confusion matrix** `conf[true, predicted]`: row `t` counts the
# pixels of true class `t`, split by what was predicted for them; void pixels are skipped.
# From it:
#
# * **global pixel accuracy** = `trace(conf) / conf.sum()`: the share of pixels right;
# * **class-average accuracy** = mean over classes of `conf[c, c] / conf[c, :].sum()` (the
#   share of each class's own pixels found, then averaged: every class weighs the same);
# * **intersection over union** of class c = `TP / (TP + FP + FN)` =
#   `conf[c, c] / (conf[c, :].sum() + conf[:, c].sum() - conf[c, c])`, and the **mean IoU**
#   over classes: the measure of PASCAL VOC, which punishes both missed pixels (FN, in the
#   row) and spurious ones (FP, in the column).
#
# A map of 3 x 4 pixels, 3 classes, one void pixel:

# %%
tiny_truth = np.array([[0, 0, 0, 1],
                       [0, 0, 1, 1],
                       [2, 2, 1, 255]])
tiny_pred = np.array([[0, 0, 1, 1],
                      [0, 2, 1, 1],
                      [2, 0, 1, 0]])
# counted with a finger on each pixel:
#   true 0 (5 pixels): 3 predicted 0, one 1, one 2
#   true 1 (4 pixels): all 4 predicted 1
#   true 2 (2 pixels): one predicted 0, one 2        (the void pixel, predicted 0, is skipped)
tiny_conf = np.array([[3, 1, 1],
                      [0, 4, 0],
                      [1, 0, 1]])
tiny = summarize(confusion_matrix(tiny_truth, tiny_pred, 3))
print(confusion_matrix(tiny_truth, tiny_pred, 3))
print({k: round(v, 4) for k, v in tiny.items() if np.isscalar(v)})
assert np.array_equal(confusion_matrix(tiny_truth, tiny_pred, 3), tiny_conf)  # rows true, columns predicted
assert np.isclose(tiny["global_acc"], 8 / 11)                         # 3 + 4 + 1 of 11 pixels
assert np.isclose(tiny["class_avg_acc"], (3 / 5 + 4 / 4 + 1 / 2) / 3)  # 0.7
assert np.isclose(tiny["mean_iou"], (3 / 6 + 4 / 5 + 1 / 3) / 3)      # class 0: 3 / (5 + 4 - 3)

# %% [markdown]
# ## Why three scores: a small object on a large background
#
# A 20 x 50 image whose object covers 4% of it, and two predictions: a lazy one that says
# "background" everywhere, and a good one that finds the object but spills one pixel over
# its border.

# %%
truth_i = np.zeros((20, 50), np.int64)
truth_i[8:12, 20:30] = 1                 # 40 object pixels of 1000
lazy = np.zeros_like(truth_i)
good = np.zeros_like(truth_i)
good[7:13, 19:31] = 1                    # the 40 pixels and 32 more around them
for name, p in (("lazy", lazy), ("good", good)):
    s = summarize(confusion_matrix(truth_i, p, 2))
    print(f"{name}: global {s['global_acc']:.3f}  class-average {s['class_avg_acc']:.3f}  mean IoU {s['mean_iou']:.3f}")
lazy_s = summarize(confusion_matrix(truth_i, lazy, 2))
good_s = summarize(confusion_matrix(truth_i, good, 2))
assert np.isclose(lazy_s["global_acc"], 0.96) and np.isclose(good_s["global_acc"], 0.968)
assert np.isclose(lazy_s["class_avg_acc"], 0.5)   # background all found, the object not at all
assert np.isclose(lazy_s["mean_iou"], (0.96 + 0) / 2)
assert np.isclose(good_s["mean_iou"], (928 / 960 + 40 / 72) / 2)

# %% [markdown]
# Global accuracy barely tells the two apart (0.960 against 0.968): the background decides
# it. The class average (0.5 against 0.98) and the mean IoU (0.48 against 0.76) do, because
# each class counts once whatever its size. That is why MSRC-21 results report both global
# and class-average accuracy, and PASCAL VOC the mean IoU.
#
# **Absent classes.** With 3 classes, the same images have no pixel of class 2, true or
# predicted: its IoU is 0 / 0. It is left out of the mean, not counted as 0 (nor as 1), so the
# score does not depend on how many unused classes the label set has. The rules, as
# `summarize` applies them: the class average is over the classes *present in the truth* (a
# class's accuracy needs true pixels); the mean IoU over the classes *present in the truth or
# the prediction*, so a class that is only predicted counts, with IoU 0, as pure false
# positives. These scores are accumulated over a whole dataset, one confusion matrix for all
# images: over PASCAL VOC's 1,449 val images every class is present, whereas per image most
# classes are absent and per-image averages would weigh them differently.

# %%
s3 = summarize(confusion_matrix(truth_i, lazy, 3))
print("per-class IoU with 3 classes:", s3["per_class_iou"], "-> mean IoU", round(s3["mean_iou"], 3))
assert np.isnan(s3["per_class_iou"][2])
assert np.isclose(s3["mean_iou"], lazy_s["mean_iou"])  # class 2 left out: 0.48, not 0.32
assert np.isclose(s3["class_avg_acc"], lazy_s["class_avg_acc"])

# %% [markdown]
# ## Scoring a damaged prediction
#
# Back to the scene. Let a "prediction" be the ground truth with some damage: a 30 x 50 block
# of pixels marked as class 1, a class that is not in this image at all.

# %%
truth = label.astype(np.int64)
truth[:5] = 255  # a void band at the top, as annotators leave at uncertain boundaries
pred = label.astype(np.int64).copy()
pred[40:70, 10:60] = 1  # the damage

# %% tags=["solution"]
# Exercise: compute the confusion matrix `conf` (4 x 4) and the mean IoU `miou` by hand,
# with NumPy only (skip the void pixels; average the IoU over the classes present in the
# truth or the prediction).
# BEGIN SOLUTION
valid = truth != 255
conf = np.zeros((4, 4), dtype=np.int64)
np.add.at(conf, (truth[valid], pred[valid]), 1)
tp = np.diag(conf)
union = conf.sum(0) + conf.sum(1) - tp
present = union > 0
miou = (tp[present] / union[present]).mean()
# END SOLUTION

# %%
lib = summarize(confusion_matrix(truth, pred, 4))
print("by hand: mIoU", round(float(miou), 4), "| library:", {k: round(v, 4) for k, v in lib.items() if np.isscalar(v)})
assert np.array_equal(conf, confusion_matrix(truth, pred, 4))
assert abs(miou - lib["mean_iou"]) < 1e-12
n_valid = int((truth != 255).sum())
share = 30 * 50 / n_valid  # every damaged pixel is wrong: there is no class 1 in the truth
print(f"damaged share {share:.3f}: global accuracy {lib['global_acc']:.3f} = 1 - share; "
      f"mean IoU {lib['mean_iou']:.3f}")
assert np.isclose(lib["global_acc"], 1 - share)
assert lib["per_class_iou"][1] == 0 and np.isnan(lib["per_class_acc"][1])  # only predicted: IoU 0, no accuracy
assert lib["mean_iou"] < 1 - 2 * share  # the mean IoU loses more than twice what global accuracy loses

# %%
fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
ax[0].imshow(colorize(truth, void_colour=(224, 224, 192))); ax[0].set_title("truth (void band in cream)")
ax[1].imshow(colorize(pred)); ax[1].set_title("damaged prediction")
xs = np.arange(4)
ax[2].bar(xs - 0.2, np.nan_to_num(lib["per_class_acc"]), 0.4, label="accuracy (of the true pixels)")
ax[2].bar(xs + 0.2, lib["per_class_iou"], 0.4, label="IoU")
ax[2].set_xticks(xs, scenes.class_names, fontsize=8); ax[2].set_ylim(0, 1.25); ax[2].legend(fontsize=8, ncol=2, loc="upper center")
ax[2].set_title("per class (disc: no accuracy, never true)", fontsize=9)
for a in ax[:2]:
    a.axis("off")
plt.show()

# %% [markdown]
# The block is 12.9% of the valid pixels, and global accuracy drops by exactly that: each
# damaged pixel is one wrong pixel. The mean IoU drops far more, to 0.56. The block took 816
# of the triangle's 1,303 pixels (its IoU falls to 0.37) and put 1,500 pixels in class 1 (disc),
# which has none: class 1 joins the average with IoU 0 and costs a quarter of it on its own.
# Background and box lose only the pixels the block covered, counted once as missed in their
# row and once as spurious in class 1's column.
#
# ## What you saw
#
# * A label map is one class index per pixel; void pixels (255) are skipped when scoring.
# * The confusion matrix `conf[true, predicted]` gives all the scores; global accuracy is
#   dominated by large classes, class-average accuracy and mean IoU weigh each class once.
# * A class absent from truth and prediction is left out of the mean IoU; one that is only
#   predicted counts with IoU 0.
#
# **Next:** [02_sliding_window.ipynb](02_sliding_window.ipynb) — a convnet labels every pixel
# by sliding a classifier over the image, in one pass.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (mean IoU on PASCAL VOC 2012).
# * J. Shotton, J. Winn, C. Rother, A. Criminisi. *TextonBoost for Image Understanding:
#   Multi-Class Object Recognition and Segmentation by Jointly Modeling Texture, Layout, and
#   Context.* IJCV 81(1), 2009 (MSRC-21; global and class-average accuracy).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (pixel accuracy, mean accuracy and mean IU from one confusion
#   matrix).
