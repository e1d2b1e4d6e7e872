# %% [markdown]
# # Lesson 16 — Weaker annotations: boxes, image labels and EM
#
# Pixel-accurate labels are expensive. Drawing a box around each object is about 15 times
# faster than labelling its pixels (the figure Papandreou et al. quote), and saying which
# classes an image contains is cheaper still. Papandreou, Chen, Murphy and Yuille (ICCV 2015)
# train DeepLab from such weak annotations by treating the pixel labels $y$ as hidden and
# estimating them, in the manner of the **EM algorithm**:
#
# * **E-step**: from the network's current scores $f_m(l)$ (pixel $m$, class $l$) and the
#   annotation $z$ (boxes or image tags), estimate the labels
#   $\hat y_m = \arg\max_l \,[f_m(l) + b_l]$, where the biases $b_l$ carry what the annotation
#   says: $-\infty$ for a class it rules out, a boost for the classes it allows;
# * **M-step**: train the network for a while (SGD on the cross-entropy) as if $\hat y$ were
#   the truth. Its scores change, so the next E-step estimates new labels.
#
# The paper's methods, as `minideeplab.weak` implements them:
#
# * **Bbox-Rect** (boxes): fill each box with its class, the smaller box winning where boxes
#   overlap. Estimated once, before training.
# * **Bbox-Seg** (boxes): the centre of each box is probably the object, the rest of the box is
#   uncertain, everything outside every box is background; the fully connected CRF then finds
#   the object's outline. Estimated once, before training.
# * **EM-Fixed** (image tags, or boxes): the E-step above with *fixed* biases for the allowed
#   classes (`em_fixed`, `em_fixed_boxes`). The paper's choice when some images also have pixel
#   labels (the semi-supervised setting).
# * **EM-Adapt** (image tags only): *adaptive* biases, set per image so that every class the
#   tags name wins at least a fraction $\rho$ of the pixels (`em_adapt`'s defaults: background
#   40%, each other class 20%); classes the tags do not name never win.
#
# The paper runs the E-step online, on each mini-batch's current scores (in this library:
# `em_target_fn` with the `Trainer`). The last part of this lesson alternates the two steps in
# explicit rounds instead, so that the estimated labels can be watched as they change. The
# generated scenes have a background class, like PASCAL VOC, so the methods apply as published.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import gaussian_filter

from minideeplab.datasets import SyntheticScenes
from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.predict import predict_scores
from minideeplab.recipes import synthetic_config, synthetic_model, synthetic_scenes
from minideeplab.train import Trainer
from minideeplab.viz import colorize, show_rows, voc_palette
from minideeplab.weak import (BBOX_SEG_CRF, bbox_rect, bbox_seg, bbox_seg_probs, box_core, boxes_from_labels,
                              em_adapt, em_fixed, image_tags)

L = 4  # background and three shapes
miou = lambda est, gt: summarize(confusion_matrix(gt, est, L))["mean_iou"]

# the EM loop as a figure: the E-step turns scores and annotation into labels, the M-step labels into weights
fig, ax = plt.subplots(figsize=(11, 3.2))
ax.set_xlim(0, 11); ax.set_ylim(0, 3.2); ax.axis("off")
for x, y, text, colour in [
        (1.0, 1.6, "network\nweights θ", "#dde8f5"),
        (3.5, 2.7, "scores $f_m(l)$\non every image", "#dde8f5"),
        (6.9, 2.7, "E-step\n$\\hat y_m = \\arg\\max_l\\, f_m(l) + b_l$", "#fde2c8"),
        (10.0, 2.7, "annotation $z$\n(boxes, image tags)", "#dde8f5"),
        (6.9, 0.5, "estimated labels $\\hat y$", "#dde8f5"),
        (3.5, 0.5, "M-step: N SGD iterations\non the cross-entropy with $\\hat y$", "#fde2c8")]:
    ax.text(x, y, text, ha="center", va="center", fontsize=10, bbox=dict(boxstyle="round,pad=0.4", fc=colour, ec="gray"))
for start, end in [((1.4, 2.0), (2.5, 2.55)), ((4.5, 2.7), (5.5, 2.7)), ((9.0, 2.7), (8.35, 2.7)),
                   ((6.9, 2.2), (6.9, 0.8)), ((6.0, 0.5), (5.15, 0.5)), ((1.9, 0.6), (1.2, 1.2))]:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="k", lw=1.2))
ax.set_title("EM for weak labels: the pixel labels are hidden, so estimate them, train on them, repeat")
plt.show()

# %% [markdown]
# ## Boxes, the literal way: Bbox-Rect
#
# A box says: an object of this class lies in here. Bbox-Rect takes that at face value: every
# pixel of a box gets the box's class, every pixel outside all boxes the background. Where boxes
# of different classes overlap, the **smaller box wins**: a small box that overlaps a large one
# is most often an object in front of it, and a large box holds more pixels that are not its
# object. Fill the boxes from the largest to the smallest, and the last write, the smallest
# box's, is the one that stays.
#
# In the scene below a disc's box overlaps a larger box of another class, and a triangle stands
# apart. The boxes come in the order the annotation lists them (by class), not by size.

# %%
scenes = SyntheticScenes(12, (96, 128), L, objects=(2, 3), seed=23, radius=(0.15, 0.3), noise=8.0)
image, truth = scenes[9]
boxes = [b for b in boxes_from_labels(truth, L) if b[0] != 0]  # one box per object: (class, y0, x0, y1, x1)
for c, y0, x0, y1, x1 in boxes:
    print(f"class {c}: rows {y0}-{y1}, columns {x0}-{x1}, area {(y1 - y0) * (x1 - x0)} pixels")

# %% tags=["solution"]
# Exercise: Bbox-Rect by hand. Write `fill_boxes(shape, boxes)`: an (H, W) uint8 map, 0 (the
# background) outside every box, each box filled with its class so that where boxes overlap,
# the smaller box's class wins. `boxes` holds (class, y0, x0, y1, x1) with exclusive ends.
# BEGIN SOLUTION
def fill_boxes(shape, boxes):
    out = np.zeros(shape, np.uint8)
    for c, y0, x0, y1, x1 in sorted(boxes, key=lambda b: -(b[3] - b[1]) * (b[4] - b[2])):  # largest first
        out[y0:y1, x0:x1] = c
    return out
# END SOLUTION


# %%
def smallest_box_wins(shape, boxes):
    """The check's reference: each pixel takes the class of the smallest box covering it (0 outside)."""
    want, smallest = np.zeros(shape, np.uint8), np.full(shape, np.inf)
    for c, y0, x0, y1, x1 in boxes:
        wins = smallest[y0:y1, x0:x1] > (y1 - y0) * (x1 - x0)
        want[y0:y1, x0:x1][wins] = c
        smallest[y0:y1, x0:x1][wins] = (y1 - y0) * (x1 - x0)
    return want


covers = np.zeros((L,) + truth.shape, bool)  # which classes' boxes cover each pixel
for c, y0, x0, y1, x1 in boxes:
    covers[c, y0:y1, x0:x1] = True
print(f"{(covers.sum(0) >= 2).sum()} pixels of the scene lie in boxes of two classes")
assert (covers.sum(0) >= 2).sum() > 100  # the scene tests the order: a largest-wins fill differs there
# and three boxes drawn so that sorting by height, by width or by class gets some overlap wrong
# (a large box of class 2, a tall thin box of class 3, a wide thin box of class 1, listed out of order)
crossed = [(3, 5, 10, 45, 20), (1, 20, 5, 25, 60), (2, 0, 0, 30, 40)]
for name, bx, shape in [("the scene", boxes, truth.shape), ("the crossed boxes", crossed, (50, 70))]:
    got = fill_boxes(shape, bx)
    assert got.shape == shape and np.array_equal(got, smallest_box_wins(shape, bx)), \
        f"{name}: a pixel does not have the class of the smallest box that covers it"
    assert np.array_equal(bbox_rect(shape, bx), smallest_box_wins(shape, bx))  # the library's Bbox-Rect agrees
rect = fill_boxes(truth.shape, boxes)

# %% [markdown]
# ## Boxes, with the CRF: Bbox-Seg
#
# Bbox-Seg turns each box into a per-pixel guess before the CRF. As published: the **centre
# area** of each box (20% of its area, `box_core`) is probably the object; the **rest of the
# box** is uncertain, object or background; every pixel **outside every box** is background.
# `bbox_seg_probs` writes that as probabilities (the 0.75 and 0.5 are this library's values):
#
# | where | P(box's class) | P(background) |
# |---|---|---|
# | centre area of a box | 0.75 | 0.25 |
# | rest of the box | 0.5 | 0.5 |
# | outside every box | 0 | 1 |
#
# (smaller boxes again written last where boxes overlap). The fully connected CRF of lessons
# 10-13 then takes these as its unary and estimates the segment: the object's colour spreads
# from the confident centre to the object's edge, and the background's from outside the box
# into the box's corners. The CRF's parameters for this job are stronger than DeepLab's
# post-processing ones (the authors' released code; `BBOX_SEG_CRF`).

# %%
P = bbox_seg_probs(truth.shape, boxes, L)
seg = bbox_seg(image, boxes, L)
pal = voc_palette()[:L].astype(np.float64)
soft_target = np.einsum("lhw,lc->hwc", P, pal).astype(np.uint8)  # each pixel: its classes' colours, mixed by P
print("CRF parameters for Bbox-Seg:", BBOX_SEG_CRF)
fig, ax = plt.subplots(1, 5, figsize=(17, 2.9))
ax[0].imshow(image); ax[0].set_title("boxes (dashed: centre areas)")
for c, y0, x0, y1, x1 in boxes:
    ax[0].add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="w", lw=2))
    a, b, cc, d = box_core(y0, x0, y1, x1)
    ax[0].add_patch(plt.Rectangle((b - 0.5, a - 0.5), d - b, cc - a, fill=False, ec="w", lw=1, ls="--"))
im = ax[1].imshow(1 - P[0], vmin=0, vmax=1, cmap="viridis"); ax[1].set_title("P(not background)")
fig.colorbar(im, ax=ax[1], fraction=0.035)
ax[2].imshow(soft_target); ax[2].set_title("the CRF's input P, as mixed colours")
ax[3].imshow(colorize(seg)); ax[3].set_title("Bbox-Seg: after the CRF")
ax[4].imshow(colorize(truth)); ax[4].set_title("truth")
for a in ax:
    a.axis("off")
plt.show()

# the three zones, where one box alone covers the pixel
cover = np.zeros(truth.shape, int)
for c, y0, x0, y1, x1 in boxes:
    cover[y0:y1, x0:x1] += 1
assert np.allclose(P.sum(0), 1) and (P[0][cover == 0] == 1).all()  # outside every box: background
for c, y0, x0, y1, x1 in boxes:
    in_box = np.zeros(truth.shape, bool); in_box[y0:y1, x0:x1] = True
    a, b, cc, d = box_core(y0, x0, y1, x1)
    in_core = np.zeros(truth.shape, bool); in_core[a:cc, b:d] = True
    alone = in_box & (cover == 1)
    assert (P[c][alone & in_core] == 0.75).all() and (P[c][alone & ~in_core] == 0.5).all()
    assert abs(in_core.sum() / in_box.sum() - 0.2) < 0.03  # the centre area is a fifth of the box

# %% [markdown]
# How good are the two estimates, as training labels? The mean IoU of each against the truth,
# on this scene and over all twelve scenes of the set:

# %%
print(f"this scene: Bbox-Rect {miou(rect, truth):.3f}, Bbox-Seg {miou(seg, truth):.3f}")
r_all, s_all = [], []
for i in range(len(scenes)):
    img, gt = scenes[i]
    bx = [b for b in boxes_from_labels(gt, L) if b[0] != 0]
    r_all.append(miou(bbox_rect(gt.shape, bx), gt))
    s_all.append(miou(bbox_seg(img, bx, L), gt))
print(f"mean over {len(scenes)} scenes: Bbox-Rect {np.mean(r_all):.3f}, Bbox-Seg {np.mean(s_all):.3f}; "
      f"Bbox-Seg better on {np.sum(np.array(s_all) > np.array(r_all))} of {len(scenes)}")
assert np.mean(s_all) > np.mean(r_all) + 0.1  # the CRF recovers the shapes inside the boxes

# %% [markdown]
# A box around a disc or a triangle is largely background, so Bbox-Rect teaches the network
# that the background next to such objects is the object. The CRF cuts most of that away here,
# because the scenes' objects differ in colour from their surroundings; on real photographs the
# gap is smaller, and the estimate is only as good as the colour contrast.
#
# ## Image labels: EM-Adapt
#
# With only the image's tags, the annotation says nothing about where. EM-Fixed adds the same
# biases to every image: it trusts the network to be calibrated, so its labels depend on how
# bold or timid the network's scores are. EM-Adapt instead finds, per image, the biases that
# give each named class at least its fraction $\rho$ of the pixels. For class $l$ alone: it
# wins pixel $m$ when $b_l > d_m = \max_{k \ne l} (f_m(k) + b_k) - f_m(l)$, so the share it
# wins as $b_l$ grows is the distribution function of $d$, and the smallest bias that gives it
# $\rho$ is the $\rho$-quantile of $d$. `em_adapt` does this for each named class in turn,
# background first, repeating until all shares hold.
#
# Two simulated networks score one scene: a blurred version of its truth plus spatially smooth
# noise, as a half-trained network's scores look. One is timid (+2 to the background
# everywhere), one is bold (+2 to every object class, the one not in the image included).

# %%
image4, truth4 = scenes[4]
tags = image_tags(truth4, L)
absent = [c for c in range(L) if c not in tags]
rho = {c: (0.4 if c == 0 else 0.2) for c in tags}  # em_adapt's default fractions
rng = np.random.default_rng(0)
noise = gaussian_filter(rng.normal(size=(L,) + truth4.shape), (0, 3, 3))
base = gaussian_filter(3.0 * np.eye(L)[truth4].transpose(2, 0, 1), (0, 4, 4)) + 1.1 * noise / noise.std()
nets = {"timid": base + np.array([2.0, 0, 0, 0])[:, None, None],
        "bold": base + np.array([0, 2.0, 2.0, 2.0])[:, None, None]}
share = lambda t: np.bincount(t.ravel(), minlength=L) / t.size
print("tags:", tags, "| true shares of the pixels:", share(truth4).round(2))
out = {}
for name, f in nets.items():
    out[name] = {"arg max": f.argmax(0),
                 "tags only": em_fixed(f, tags, bias={c: 0.0 for c in tags}),  # absent classes out, no biases
                 "EM-Fixed": em_fixed(f, tags), "EM-Adapt": em_adapt(f, tags)}
    print(f"{name}:")
    for k, v in out[name].items():
        print(f"  {k:9s} shares {share(v).round(2)}  mIoU {miou(v, truth4):.2f}")
show_rows([[image4, truth4] + list(out[name].values()) for name in nets],
          ["image", "truth", "arg max", "tags only", "EM-Fixed", "EM-Adapt"], class_names=scenes.class_names)
plt.show()
agree = {k: (out["timid"][k] == out["bold"][k]).mean() for k in out["timid"]}
print("share of pixels labelled alike from the timid and from the bold scores:",
      {k: round(float(v), 2) for k, v in agree.items()})

for name in nets:  # the constraint has work to do: with the tags alone, a named class falls short
    assert any(share(out[name]["tags only"])[c] < rho[c] for c in tags)
    s = share(out[name]["EM-Adapt"])
    assert all(s[c] == 0 for c in absent)  # classes the tags do not name never win
    assert all(s[c] >= rho[c] for c in tags), f"{name}: a named class got less than its fraction rho"
assert all(share(out["bold"]["arg max"])[c] > 0 for c in absent)  # without the tags, the absent class shows
assert share(out["bold"]["EM-Fixed"])[0] < rho[0]  # fixed biases: the bold net's background nearly vanishes
assert agree["EM-Adapt"] > agree["EM-Fixed"] + 0.2  # adaptive biases absorb much of the networks' offsets

# %% [markdown]
# The timid network, restricted to the tags, leaves the two objects well under their 20%; the
# bold one leaves the background under its 40%, and without the tags it even paints the absent
# class. EM-Fixed's biases (+5 for the named objects, +3 for the background: the library's
# defaults) suit the timid network and ruin the bold one's background. EM-Adapt raises, per
# image, only the biases of the classes that fall short, so both networks end with every named
# class at or above its fraction and far more pixels labelled alike. The fractions are lower
# bounds: a class that already wins more keeps it (the bold network's objects stay too big), and
# an object smaller than 20% of the image is grown to 20% (the box, 10% of this scene). They are
# a prior on object size, which a data set's typical objects should set.
#
# How EM-Adapt finds one bias: the share of pixels the smallest named object class wins as its
# bias grows (the other classes' biases at 0, absent classes out), for the timid network.

# %%
f = nets["timid"]
c = min((k for k in tags if k != 0), key=lambda k: share(out["timid"]["tags only"])[k])
allowed = np.full(L, -np.inf); allowed[tags] = 0.0
others = np.delete(f + allowed[:, None, None], c, axis=0).max(0)  # max over k != c of f_k + b_k
d = np.sort((others - f[c]).ravel())
k = int(np.ceil(rho[c] * d.size))  # class c must win k pixels: those with the k smallest d
b_star = d[k - 1]                   # the rho-quantile of d
wins = lambda b: (f[c] + b > others).mean()
plt.figure(figsize=(6, 3))
plt.plot(d, np.arange(1, d.size + 1) / d.size)
plt.axhline(rho[c], color="gray", ls=":"); plt.axvline(b_star, color="C1", ls="--")
plt.xlabel(f"bias $b_{c}$"); plt.ylabel(f"share won by class {c}"); plt.title("the share is the distribution function of d")
plt.tight_layout(); plt.show()
print(f"class {c}: share {wins(0.0):.3f} at bias 0; the {rho[c]}-quantile of d is {b_star:.2f}; just above it, "
      f"class {c} wins {round(wins(b_star + 1e-9) * d.size)} of the {d.size} pixels, just below it "
      f"{round(wins(b_star - 1e-9) * d.size)} (it needs {k})")
assert wins(b_star + 1e-9) >= rho[c] > wins(b_star - 1e-9)  # the quantile is the smallest bias that suffices

# %% [markdown]
# ## The EM loop, round by round
#
# The paper's semi-supervised setting: a few images with pixel labels, many with image tags
# only. Here: 8 of lesson 7's scenes with their pixel labels, 56 with their tags, and lesson 7's
# small DeepLab (width 1/8, from random weights).
#
# * **Round 0**: train on the 8 pixel-labelled scenes alone (an M-step with nothing to estimate).
# * **Each round**: the **E-step** scores every tag-only scene with the current network and
#   labels it; the **M-step** trains on all 64 scenes, the 56 with their estimates, for another
#   100 iterations.
#
# One learning-rate schedule spans the rounds, as if they were one training run; the truth of
# the 56 scenes is used only to score the estimates. Two E-steps: EM-Fixed with +1 for the
# named objects (the background's bias 0), and EM-Adapt.

# %%
n_strong, n_weak, N0, N, R = 8, 56, 100, 100, 4
data = synthetic_scenes(n_strong + n_weak)  # lesson 7's scenes, 65x65
images = [data[i][0] for i in range(len(data))]
hidden = [data[i][1] for i in range(len(data))]  # for the tag-only scenes: only to score the estimates
tags_of = [image_tags(t, L) for t in hidden]
strong, weak = list(range(n_strong)), list(range(n_strong, len(data)))
E_STEPS = {"EM-Fixed +1": lambda f, tags: em_fixed(f, tags, fg_bias=1.0, bg_bias=0.0),
           "EM-Adapt": lambda f, tags: em_adapt(f, tags)}


class Labelled:
    """An M-step's training set: the scenes ``index`` with the labels we have for them."""

    def __init__(self, index, labels):
        self.index, self.labels = list(index), labels

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        return images[self.index[k]], self.labels[self.index[k]]


def label_quality(est):
    """Pixel accuracy and mean IoU of the estimates against the hidden truth, and the objects' share of pixels."""
    m = summarize(sum(confusion_matrix(hidden[i], est[i], L) for i in weak))
    return m["global_acc"], m["mean_iou"], np.mean([(est[i] > 0).mean() for i in weak])


def run_em(name):
    model = synthetic_model()
    labels = {i: hidden[i] for i in strong}
    trainer = Trainer(model, Labelled(strong, labels), synthetic_config(max_iter=N0 + N * R))
    trainer.fit(max_iter=N0, progress=False)  # round 0: the pixel-labelled scenes only
    rounds, quality = [], []
    for r in range(1, R + 2):
        est = {i: E_STEPS[name](predict_scores(model, images[i]), tags_of[i]) for i in weak}  # E-step
        rounds.append(est)
        quality.append(label_quality(est))
        print(f"{name}, round {r}: estimates' pixel accuracy {quality[-1][0]:.3f}, mean IoU {quality[-1][1]:.3f}, "
              f"objects' share of the pixels {quality[-1][2]:.3f}")
        if r <= R:  # M-step (the last E-step only scores the final network)
            labels.update(est)
            trainer.dataset = Labelled(strong + weak, labels)  # the same trainer: momentum and schedule go on
            trainer.fit(max_iter=trainer.iteration + N, progress=False)
    return rounds, np.array(quality)


true_objects = np.mean([(hidden[i] > 0).mean() for i in weak])
print(f"the objects' true share of the pixels of the {n_weak} tag-only scenes: {true_objects:.3f}")
em = {"EM-Fixed +1": run_em("EM-Fixed +1")}

# %%
em["EM-Adapt"] = run_em("EM-Adapt")

# %%
first, last = em["EM-Fixed +1"][0][0], em["EM-Fixed +1"][0][-1]
k = max(weak, key=lambda i: abs((last[i] > 0).mean() - (first[i] > 0).mean()))  # where EM-Fixed's objects moved most
print(f"tag-only scene {k}, tags {tags_of[k]}: its estimates round by round (top: EM-Fixed +1, bottom: EM-Adapt)")
show_rows([[images[k], hidden[k]] + [est[k] for est in em[name][0]] for name in em],
          ["image", "truth"] + [f"round {r}" for r in range(1, R + 2)], class_names=data.class_names)
plt.show()
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
for name, (_, q) in em.items():
    ax[0].plot(range(1, R + 2), q[:, 2], "o-", label=name); ax[1].plot(range(1, R + 2), q[:, 1], "o-", label=name)
ax[0].axhline(true_objects, color="gray", ls=":", label="truth"); ax[0].set_ylabel("objects' share of the pixels")
ax[1].set_ylabel("estimates' mean IoU")
for a in ax:
    a.set_xlabel("round"); a.set_xticks(range(1, R + 2)); a.legend()
plt.tight_layout(); plt.show()

fixed_q, adapt_q = em["EM-Fixed +1"][1], em["EM-Adapt"][1]
shortfall = {3: 0.0, 4: 0.0}  # the largest share missing from a named class's fraction, by number of named classes


def short(est, i):
    s, need = share(est), {c: (0.4 if c == 0 else 0.2) for c in tags_of[i]}
    assert all(s[c] == 0 for c in range(L) if c not in need)  # classes the tags do not name never win
    return max(need[c] - s[c] for c in need)


for est in em["EM-Adapt"][0]:
    for i in weak:
        n = 4 if len(tags_of[i]) == 4 else 3
        shortfall[n] = max(shortfall[n], short(est[i], i))
print(f"EM-Adapt's largest shortfall from a fraction: {shortfall[3] * 65 * 65:.0f} pixels with up to three classes "
      f"named, {100 * shortfall[4]:.2f}% of the scene with all four")
moved = {name: np.ptp(q[:, 2]) for name, q in (("EM-Fixed +1", fixed_q), ("EM-Adapt", adapt_q))}
print("how far the objects' share moved over the rounds (largest minus smallest): "
      + ", ".join(f"{name} {m:.3f}" for name, m in moved.items()))
assert moved["EM-Adapt"] < moved["EM-Fixed +1"]  # adaptive biases hold the objects' share

# %% [markdown]
# What the rounds show:
#
# * **EM-Fixed +1** hands the named objects the same +1 in every E-step, and the network learns
#   whatever share of the pixels that gives them; the next E-step adds +1 to that. Where the
#   share goes depends on how confident the network is: repeated over six seeds and both of the
#   library's convolution paths (`python benchmarks/lesson_seeds.py 16`, `benchmarks/RESULTS.md`),
#   it rose from the first round to the last in eleven runs (by up to 0.14) and fell in one, and
#   the last round's share ranged from 0.19 to 0.49 against a truth of 0.28.
# * **EM-Adapt** sets the biases per image so that each named class gets its fraction of the
#   pixels (background 40%, each object 20%), whatever the network: in those twelve runs the
#   objects' share stayed between 0.29 and 0.38 and moved less over the rounds than EM-Fixed's in
#   every one (the check above; one more run, with two threads and the direct convolution, was
#   the exception: 0.024 against 0.015, with an earlier version of the library). This lesson's own
#   run (two threads, the direct convolution on the first layers, as in CI) moved 0.038 against
#   0.156, EM-Fixed's share rising further than in any of the twelve. `em_adapt` raises one bias at a time, each just enough, so where
#   two named classes compete for the same pixels every raise of one takes pixels from the
#   other, and its default 20 passes can stop short: in those runs by up to 155 pixels (3.7% of
#   the scene) with three classes named, on a scene where 200 passes (`rounds=200`) close the gap
#   (with all four named, the fractions add up to exactly 1 and some shortfall stays).
# * **Do the rounds improve the estimates?** Not reliably, here: from the first round to the
#   last, the estimates' mean IoU moved between -0.13 and +0.02 with EM-Fixed +1 and between
#   -0.05 and +0.07 with EM-Adapt in those twelve runs. Round 0's network has seen 8
#   scenes, and a wrong estimate, once learned by the M-step, comes back in the next E-step.
#
# The paper's semi-supervised EM-Fixed starts from ImageNet weights and from VOC's own
# pixel-labelled training images, so its first estimates are good; it uses EM-Adapt where there
# are no pixel labels at all. It also runs the E-step online, on every mini-batch, not in rounds:
# the library's `em_target_fn` does that inside the `Trainer`. The rounds of this lesson are
# `minideeplab.weak.EMTargets` with `TrainConfig(e_step_every=K)` (an E-step on whole images
# every K iterations, its share of changed pixels in the log), and
# `minideeplab train --supervision semi|em-adapt|bbox-rect|bbox-seg [--e-step-every K]` trains
# each setting.
#
# ## Beside the paper
#
# The paper trains DeepLab-CRF-LargeFOV from ImageNet weights on PASCAL VOC 2012 (20 object
# classes and background; 1,464 pixel-labelled training images, 10,582 with the extra
# annotations) and reports mean IoU on the 1,449 val images. `PAPER_VAL` below holds the numbers
# usually quoted from its tables; the copies of the paper at hand let us check only those of its
# introduction (62.2 on the *test* set from boxes; 25.7 and 40.6 for two earlier image-label
# methods), so read the val numbers as quoted, not as verified here.
#
# Ours: MSRC-21, DeepLab-LargeFOV at width 1/4 from random weights, 279 training images, scored
# on the 256 test images after the dense CRF; 6,000 iterations of batch 8 per run, one CPU core
# each (`benchmarks/RESULTS.md` has every command; `benchmarks/weak_results.json` every
# number). The paper's central experiment first: the same few pixel-labelled images alone
# (*strong-only*) or with image tags on all the other training images (*semi*, EM-Fixed with an
# E-step every 500 iterations, started from the strong-only model of the same images, as the
# paper's ImageNet start makes its first E-step good).

# %%
PAPER_VAL = {  # mean IoU (%), PASCAL VOC 2012 val, DeepLab-CRF-LargeFOV from ImageNet weights (as quoted)
    "strong, 1,464 images": 62.5,
    "semi: 1,464 pixel-labelled + 9,118 tagged (EM-Fixed)": 64.6,
    "strong, 10,582 images": 67.6,
    "Bbox-Rect (boxes only)": 52.5,
    "Bbox-Seg (boxes only)": 60.6,
    "EM-Adapt (image tags only)": 38.2,
}
CURVE = {  # ours, MSRC-21 test after the CRF, 6,000 iterations: pixel-labelled images -> (global, mean IoU)
    "strong-only": {35: (50.9, 23.9), 70: (61.5, 31.0), 140: (69.9, 40.8)},
    "semi": {35: (59.0, 30.2), 70: (62.9, 33.9), 140: (69.5, 41.3)},
}
CEILING = (279, 74.3, 47.5)  # all 279 training images pixel-labelled: (images, global, mean IoU)

fig, ax = plt.subplots(1, 2, figsize=(13, 3.8))
ax[0].plot([1464], [PAPER_VAL["strong, 1,464 images"]], "o", color="C0", label="strong-only")
ax[0].plot([1464], [PAPER_VAL["semi: 1,464 pixel-labelled + 9,118 tagged (EM-Fixed)"]], "s", color="C1",
           label="semi (+ 9,118 tagged)")
ax[0].axhline(PAPER_VAL["strong, 10,582 images"], color="gray", ls="--", label="all 10,582 pixel-labelled")
ax[0].set_xlim(0, 11000); ax[0].set_ylim(55, 70)
ax[0].set_title("the paper: PASCAL VOC 2012 val, ImageNet start", fontsize=10)
for name, colour, marker in [("strong-only", "C0", "o"), ("semi", "C1", "s")]:
    n = sorted(CURVE[name])
    ax[1].plot(n, [CURVE[name][k][1] for k in n], marker=marker, color=colour, label=name)
ax[1].axhline(CEILING[2], color="gray", ls="--", label=f"all {CEILING[0]} pixel-labelled")
ax[1].set_xlim(0, 300); ax[1].set_title("ours: MSRC-21 test, random start", fontsize=10)
for a in ax:
    a.set_xlabel("pixel-labelled training images"); a.set_ylabel("mean IoU (%) after the CRF"); a.legend(fontsize=8)
plt.tight_layout(); plt.show()
for k in sorted(CURVE["semi"]):
    print(f"{k:4d} pixel-labelled: strong-only {CURVE['strong-only'][k][1]:.1f}, semi {CURVE['semi'][k][1]:.1f} "
          f"({CURVE['semi'][k][1] - CURVE['strong-only'][k][1]:+.1f} mean IoU)")

# %% [markdown]
# Claim (2) of the paper reproduces in kind: at every size the tagged images help, most where
# pixel labels are fewest (+6.3 mean IoU at 35 images, +2.9 at 70, +0.5 at 140; at 140 the global
# accuracy is 0.4 lower). The paper's semi run closes 2.1 of the 5.1 points between its 1,464
# pixel-labelled images and all 10,582; ours closes 6.3 of the 23.6 points to the ceiling at 35
# images and 0.5 of 6.7 at 140. What the tagged images teach is the E-step's estimate: the
# network's arg max among each image's tags. Scored against the ground truth they stand in for
# (the targets of the last E-step, kept in each run's checkpoint), those estimates reach 50.0
# mean IoU at 35 pixel-labelled images, 53.9 at 70 and 66.7 at 140: much better than the model's
# own test score, because the tags rule out most classes, but a third of each class still wrong at
# 140, where the 140 true label maps already carry most of what a network this size learns from
# MSRC. The paper's estimates come from VGG-16 started on ImageNet and trained on 1,464 VOC
# images, far better than ours. Two of the paper's choices we measured
# (`benchmarks/RESULTS.md`): the warm start (EM from random weights, with the earlier width-1/8
# recipe, fell to 22.5, under every box method of that recipe) and the batch mixing (2 pixel-labelled images in
# every batch of 8: 30.3 against 30.2 at 35 images, no change).
#
# Claim (3), boxes segmented by the CRF (Bbox-Seg) beat filled boxes (Bbox-Rect), needs boxes
# that mean what they mean on VOC: `--protocol voc-style` merges MSRC's six "stuff" classes into
# one background and draws boxes around the 15 object classes only, so both methods run as
# published (background outside the boxes; the paper's CRF and its 20% core). Two numbers per
# method: the quality of the training labels themselves (the 279 training images against their
# ground truth, `benchmarks/weak_labels.py`) and the model trained on them (same recipe as the
# curve, 6,000 iterations, test images after the CRF).

# %%
BOXES_VOC_STYLE = {  # ours, MSRC-21 VOC-style: training labels' mean IoU; the model's (global, mean IoU) after the CRF
    "Bbox-Rect": {"labels": 74.0, "model": (78.1, 39.1)},
    "Bbox-Seg": {"labels": 73.8, "model": (80.4, 37.8)},
}
for name, r in BOXES_VOC_STYLE.items():
    print(f"{name:9s}  labels {r['labels']:.1f} mIoU | model: global {r['model'][0]:.1f}, mIoU {r['model'][1]:.1f} "
          f"| the paper's model on VOC val: {PAPER_VAL[name + ' (boxes only)']:.1f}")
VOC_STYLE_BOUNDS = {  # ours, the same protocol and recipe: (global, mean IoU) after the CRF, 6,000 iterations
    "strong": (83.0, 45.3),    # all 279 training images pixel-labelled: the ceiling
    "em-adapt": (74.7, 16.8),  # image tags only
}
ours = {"strong": VOC_STYLE_BOUNDS["strong"][1], "Bbox-Rect": BOXES_VOC_STYLE["Bbox-Rect"]["model"][1],
        "Bbox-Seg": BOXES_VOC_STYLE["Bbox-Seg"]["model"][1], "EM-Adapt": VOC_STYLE_BOUNDS["em-adapt"][1]}
paper = {"strong": PAPER_VAL["strong, 10,582 images"], "Bbox-Rect": PAPER_VAL["Bbox-Rect (boxes only)"],
         "Bbox-Seg": PAPER_VAL["Bbox-Seg (boxes only)"], "EM-Adapt": PAPER_VAL["EM-Adapt (image tags only)"]}
for name in ours:
    print(f"{name:9s}  ours {ours[name]:5.1f} mIoU ({ours[name] / ours['strong']:4.0%} of strong) | "
          f"the paper {paper[name]:5.1f} ({paper[name] / paper['strong']:4.0%})")
assert ours["strong"] > max(ours["Bbox-Rect"], ours["Bbox-Seg"]) > ours["EM-Adapt"]  # the paper's outer order

# %% [markdown]
# The paper's order does not reproduce here: the labels tie (73.8 against 74.0), and so do the
# models (37.8 against 39.1 mean IoU, with Bbox-Seg 2.3 points ahead in global accuracy; a second
# draw of both trainings, seed 1, gave 35.8 against 37.2, and 3.2 points in global accuracy:
# the same orders, by about what two draws of one setting differ, 1.9-2.0 mean IoU). What a
# box holds explains it (`benchmarks/RESULTS.md` has the measurements). Inside MSRC's object
# boxes the ground truth is 64% the object, 22% background and 13% void, so the filled box is
# right on three quarters of its labelled pixels, and the CRF has little background to win back.
# It wins back 86% of that background and gives away 23% of the object pixels, where an object's
# colours run into its surroundings. The CRF's labels gain 12-19 points of IoU on cows, sheep,
# aeroplanes, birds and dogs (grass and sky around them) and lose 13-27 on faces, books, signs
# and cats. A VOC box around a person or a bottle is mostly background, the case where the
# segmentation pays; the synthetic scenes above are built like that, and there Bbox-Seg wins
# by far.
#
# Around the two box methods the paper's order holds: the pixel labels of all 279 images give
# 45.3 mean IoU, the boxes 83-86% of that (the paper: 78% for Bbox-Rect, 90% for Bbox-Seg), the
# image tags alone 16.8, 37% of it (the paper: 57%). EM-Adapt from random weights has only the
# tags to learn from: its first estimates come from a network that has seen no pixel label.
#
# The other settings, with MSRC's classes as they are (21 classes, no background: outside every
# box is void, EM-Adapt gives each named class the foreground fraction), with the same recipe
# (6,000 iterations per run), and the synthetic scenes above:

# %%
PAPER = {  # PASCAL VOC 2012, mean IoU (%): test set for pixel labels (Chen et al. 2015) and for boxes (Papandreou
    "pixel labels": 71.6,  # et al. 2015); the two earlier image-label results as Papandreou et al.'s introduction
    # quotes them, without naming the set
    "boxes (Bbox-Seg)": 62.2,
    "image labels (earlier, MIL)": 25.7,
    "image labels (earlier, + objectness)": 40.6,
}
MSRC = {  # ours, weak_results.json: (global accuracy, mean IoU) after the CRF, 256 test images, 6,000 iterations
    "strong": (74.3, 47.5),
    "semi (70 pixel-labelled, EM-Fixed)": (62.9, 33.9),
    "Bbox-Seg": (66.3, 37.3),
    "Bbox-Rect": (70.2, 45.0),
    "EM-Adapt (tags only)": (46.2, 16.9),
}
synthetic = {"Bbox-Rect (12 scenes)": 100 * np.mean(r_all), "Bbox-Seg (12 scenes)": 100 * np.mean(s_all),
             "EM-Fixed +1, last round": 100 * fixed_q[-1, 1], "EM-Adapt, last round": 100 * adapt_q[-1, 1]}
fig, ax = plt.subplots(1, 3, figsize=(16, 3.4))
for a, (title, values) in zip(ax, [("the paper: VOC 2012, models", PAPER),
                                   ("ours: MSRC-21 test, models", {k: v[1] for k, v in MSRC.items()}),
                                   ("ours: synthetic scenes, estimated labels", synthetic)]):
    names = list(values)
    a.barh(range(len(names)), [values[n] for n in names])
    for y, n in enumerate(names):
        a.text(values[n] + 1, y, f"{values[n]:.1f}", va="center")
    a.set_yticks(range(len(names)), names); a.set_xlim(0, 110); a.invert_yaxis()
    a.set_xlabel("mean IoU (%)"); a.set_title(title, fontsize=10)
plt.tight_layout(); plt.show()
for name, v in PAPER.items():
    print(f"the paper, {name}: {v}")
for name, v in synthetic.items():
    print(f"ours, synthetic scenes, {name}: {v:.1f}")
assert min(synthetic["Bbox-Rect (12 scenes)"], synthetic["Bbox-Seg (12 scenes)"]) > \
    max(synthetic["EM-Fixed +1, last round"], synthetic["EM-Adapt, last round"])

# %% [markdown]
# Pixel labels beat boxes, and boxes beat image labels alone by far: on VOC (as far as the
# numbers above go) and on MSRC. On the synthetic scenes, the estimates from boxes (twelve
# scenes) score far above those from tags (the EM rounds, 56 other scenes). What differs, and why:
#
# * **Scale and start.** The paper's network starts from ImageNet weights, so even its first
#   E-step sees good features; ours start from random weights, and the E-step's estimates are
#   the network's early mistakes; ours start EM from a strong-only model instead (the curve
#   above). With MSRC's 21 classes, semi with 70 pixel-labelled images stays below both box
#   methods, which see a box around every segment of every image.
# * **What a box holds.** A box around a person or a bottle holds much background, so Bbox-Rect
#   is poor and the CRF can help a lot; the synthetic scenes show that (Bbox-Seg far ahead). On
#   MSRC the boxes of grass, sky or road tile the image, Bbox-Rect's labels are already good
#   (45.0 mean IoU, 95% of the pixel labels' 47.5), and Bbox-Seg's strong CRF lets those
#   classes swallow small objects: Bbox-Rect wins there (at 3,000 iterations the two stood at
#   26.9 and 30.8 the other way round; `benchmarks/weak_results.json` keeps both).
# * **Estimates against models.** The synthetic numbers score the estimated labels themselves,
#   the paper's and MSRC's a model trained on them: a model can beat its labels (it averages
#   their errors out) or inherit them.
#
# ## What you saw
#
# * Boxes give pixel labels by filling them (the smaller box written last wins) or by a CRF
#   started from a confident centre, a doubtful rest of the box and a certain background
#   outside; on these scenes the CRF's estimate is far closer to the truth.
# * Image tags give labels only through the network's scores: absent classes out, biases in.
#   EM-Fixed's biases are constants; EM-Adapt's are set per image, from fractions of the pixels
#   each named class must win, so they absorb much of how bold or timid the network is.
# * EM alternates estimating the labels (E-step) and training on them (M-step). From a network
#   that has seen 8 scenes the rounds did not reliably improve the estimates; a fixed bias let
#   the objects' share drift with the network, adaptive biases held it.
#
# **Next:** this is the last lesson. Back to the start:
# [01_semantic_segmentation.ipynb](01_semantic_segmentation.ipynb) — what the task is and how it
# is scored; the previous lesson: [15_results.ipynb](15_results.ipynb); the library and its
# commands: the [README](../README.md).
#
# ## References
#
# * G. Papandreou, L.-C. Chen, K. Murphy, A. L. Yuille. *Weakly- and Semi-Supervised Learning of
#   a Deep Convolutional Network for Semantic Image Segmentation.* ICCV 2015, arXiv:1502.02734
#   (Bbox-Rect, Bbox-Seg, EM-Fixed, EM-Adapt; 62.2 on VOC 2012 test from boxes; the figure of
#   15 for boxes against pixel labels, and the earlier image-label results it quotes).
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (DeepLab; 71.6 on VOC 2012 test with pixel labels).
# * P. Krähenbühl, V. Koltun. *Efficient Inference in Fully Connected CRFs with Gaussian Edge
#   Potentials.* NIPS 2011 (the CRF of Bbox-Seg).
# * A. P. Dempster, N. M. Laird, D. B. Rubin. *Maximum Likelihood from Incomplete Data via the EM
#   Algorithm.* Journal of the Royal Statistical Society B 39(1), 1977.
# * J. Shotton, J. Winn, C. Rother, A. Criminisi. *TextonBoost for Image Understanding.* IJCV
#   81(1), 2009 (the MSRC-21 data set).
