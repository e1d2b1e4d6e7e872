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
# Weight decay has a side effect on a CPU. It shrinks every weight that gets no gradient
# geometrically towards 0, past any value that matters, into float32's *subnormal* range
# (below 1.2e-38), where the processor computes in microcode and a matrix product that touches
# many such numbers runs several times slower. The library's optimizers set them to exactly 0
# after each step (`minideeplab.subnormal`): the shipped MSRC model, trained before they did,
# held 642,894 subnormal weights of 1.29 million, which made its inference 3.8x slower for the
# same scores, bit for bit (`benchmarks/RESULTS.md`). Weights that stop just short of that
# range still hurt: 1e-30 times a gradient of 1e-10 is a subnormal *product*. `Trainer.fit` and
# the `minideeplab` command therefore run with the CPU's flush-to-zero mode on, in which such
# products are 0 (`minideeplab.denormal.set_flush_denormal(True)` turns it on for the rest of a
# program). A fine-tuning run
# of the shipped model goes about 1.5x faster that way (its test scores are the same bits).
#
# One choice is not DeepLab's: the loss weighs each class by **median frequency** (Eigen &
# Fergus), `median(f) / f_c` where `f_c` is class c's share of the training pixels. About 70%
# of the pixels are background, so unweighted, a net this small trained from scratch sometimes
# settles on almost never answering one of the shapes: of twelve unweighted runs of 450
# iterations (six seeds, each with both convolution paths of the library, which differ only in
# the order of float32 sums), four found a shape class at 0.12 or less. With the weights and 900
# iterations, all twelve found every shape class at 0.65 or above (and twelve more with the direct
# convolution that the library now runs on the first layers, one or two threads: 0.60 or above).
#
# Then we look at what the network outputs: **coarse score maps**, one per class, at output
# stride 8, and score it on new scenes. Last, what the slogan "more data helps" means in
# DeepLab: the network is **pre-trained** on a large data set of another task, then
# **fine-tuned** on the small target set, and that beats training it on the small set alone.

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
cfg = TrainConfig(crop_size=65, batch_size=4, max_iter=900, base_lr=5e-3, lr_policy="poly", seed=0,
                  classifier_lr_mult=1.0, class_weighting="median-frequency")
trainer = Trainer(model, train, cfg)
losses = trainer.fit(max_iter=100, progress=False)  # the first 100 iterations ...
print(f"loss: {np.mean(losses[:25]):.3f} over the first 25 iterations, {np.mean(losses[75:100]):.3f} over 75-100")
assert np.mean(losses[75:100]) < 0.8 * np.mean(losses[:25])  # the steps do something

# %% [markdown]
# A loss that has not moved after 100 iterations means no learning at all (a zero gradient,
# a step that changes nothing); better to know before the remaining 800. The second call
# continues where the first stopped, with the same schedule, as if it were one run.

# %%
losses += trainer.fit(progress=False)  # ... and the other 800
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
# measured when this lesson was last changed: class-average 0.84, mean IoU 0.70, every shape class
# at 0.73 or above (the baseline: 0.25, 0.18 and about 0); over six seeds, both convolution paths
# and one or two threads (24 runs of `benchmarks/lesson_seeds.py 7`), class-average 0.77-0.89, mean
# IoU 0.61-0.75, shape classes 0.60 or above
assert net["class_avg_acc"] > 0.65 and net["mean_iou"] > 0.55
assert net["class_avg_acc"] > base["class_avg_acc"] + 0.35
assert net["per_class_acc"][1:].min() > 0.5  # every shape class is found, not just the background

# %% [markdown]
# So the network has learned to recognise the three shapes: each is found more often than
# not, where the positional prior finds none of them. It is not a good segmenter yet: these
# scenes give each class its own colour, and a rule that labels each pixel by the nearest
# mean colour of the training classes scores better still. Trained from scratch for 900
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
# ## More data helps: pre-train, then fine-tune
#
# DeepLab is not trained from scratch. In the paper's words, "We finetune the model weights of
# the Imagenet-pretrained VGG-16 network [...]. We replace the 1000-way Imagenet classifier in
# the last layer of VGG-16 with a 21-way one." Every layer but the last starts from weights learnt
# on ImageNet classification (ILSVRC-2012: 1000 classes, 1.3M training images); only the new
# classifier (fc8) starts from random numbers. Then all layers train on VOC's pixel labels, at a
# learning rate of 0.001 and ten times that, 0.01, for the new fc8. So "more data helps" in the
# sense of the slide: the many images of another task teach the filters, the few images of the
# target task teach the task.
#
# The same experiment at our scale. The net trained above stands in for the ImageNet-trained
# VGG-16: it has learnt from 200 scenes of three shapes. The **target task** has another class
# set, background, disc and box (3 classes; its scenes hold no triangles), and only **8 labelled
# scenes**. Two nets of the same architecture train on these 8 scenes, with the same settings
# (DeepLab's fine-tuning rates: base 0.001, fc8 x10, here on the poly schedule), the same batches
# and the same 100 iterations:
#
# * **from scratch**: random weights, as the net above started;
# * **pre-trained, fine-tuned**: every weight copied from the net above except fc8's: fc8 has 4
#   outputs there and needs 3 here, so it keeps its fresh random initialisation.
#
# Both are scored on 40 held-out scenes of the target task.

# %%
from minideeplab.predict import evaluate

target = SyntheticScenes(8, (65, 65), 3, seed=1001, **kw)  # the few labelled scenes of the target task
target_test = SyntheticScenes(40, (65, 65), 3, seed=99, **kw)
print("target classes:", target.class_names)
pixels = np.bincount(np.concatenate([target[i][1].ravel() for i in range(len(target))]), minlength=3)
print("pixels per class in the 8 training scenes:", pixels)
assert pixels.min() > 0  # every class is shown at least once


def target_net():
    """The architecture above with 3 outputs; the same random initialisation every call."""
    return DeepLab("DeepLab-LargeFOV", num_classes=3, width=1 / 8, seed=0, dropout=0.0)


scratch = target_net()

# %% tags=["solution"]
# Exercise: `finetuned`, a net for the 3 target classes (built by target_net()) that starts from
# the trained `model`: every parameter copied from it except fc8's, which keep their fresh
# initialisation. model.state_dict() gives the arrays by name ("conv1_1.weight", ..., "fc8.bias");
# net.load_state_dict(state, strict=False) copies the ones it is given.
# BEGIN SOLUTION
finetuned = target_net()
finetuned.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fc8.")},
                          strict=False)
# END SOLUTION

# %%
fresh = target_net()
for k, v in finetuned.params.items():
    assert np.array_equal(v, (fresh if k.startswith("fc8.") else model).params[k]), k
copied = sum(v.size for k, v in finetuned.params.items() if not k.startswith("fc8."))
print(f"{copied:,} of {finetuned.num_params():,} parameters copied from the trained net; "
      f"fc8 {finetuned.params['fc8.weight'].shape} is new")

# %%
fine_cfg = TrainConfig(crop_size=65, batch_size=2, max_iter=100, base_lr=1e-3, lr_policy="poly", seed=0,
                       classifier_lr_mult=10.0)  # DeepLab's fine-tuning rates: 0.001, fc8 0.01
curves, scores = {}, {}
for name, arm in (("from scratch", scratch), ("pre-trained, fine-tuned", finetuned)):
    curves[name] = Trainer(arm, target, fine_cfg).fit(progress=False)  # the same batches for both
    scores[name] = evaluate(arm, target_test)
    r = scores[name]
    print(f"{name:24s} training loss {np.mean(curves[name][-20:]):.3f} (last 20 iterations); held out: global "
          f"{r['global_acc']:.3f}  class-average {r['class_avg_acc']:.3f}  mean IoU {r['mean_iou']:.3f}  "
          f"per-class IoU {np.round(r['per_class_iou'], 2)}")

# %%
metric_names = ["global_acc", "class_avg_acc", "mean_iou"]
fig, ax = plt.subplots(1, 2, figsize=(12, 3.4))
for name, c in curves.items():
    ax[0].plot(np.arange(5, len(c) - 5), np.convolve(c, np.ones(11) / 11, mode="valid"), label=name)
ax[0].set_xlabel("iteration on the 8 target scenes"); ax[0].set_ylabel("training loss (running mean of 11)")
ax[0].legend()
for k, name in enumerate(scores):
    ax[1].bar(np.arange(3) + 0.4 * k - 0.2, [scores[name][m] for m in metric_names], 0.4, label=name)
ax[1].set_xticks(range(3), metric_names); ax[1].set_ylim(0, 1.2); ax[1].set_title("on 40 held-out target scenes")
ax[1].legend(loc="upper center", ncol=2)
plt.tight_layout(); plt.show()

fig, ax = plt.subplots(3, 4, figsize=(8, 6))
for row in range(3):
    image, truth = target_test[row]
    shown = [image, truth] + [predict_scores(arm, image).argmax(0) for arm in (scratch, finetuned)]
    for col, (a, im, title) in enumerate(zip(ax[row], shown, ["image", "truth", "from scratch", "fine-tuned"])):
        a.imshow(im, **({} if col == 0 else dict(vmin=0, vmax=2))); a.axis("off")
        if row == 0:
            a.set_title(title)
plt.show()

gain = {m: scores["pre-trained, fine-tuned"][m] - scores["from scratch"][m] for m in metric_names}
print("gain from pre-training:", {m: round(g, 3) for m, g in gain.items()})
assert np.mean(curves["pre-trained, fine-tuned"][-20:]) < np.mean(curves["from scratch"][-20:])
# with seeds 0, 1, 2 for the target nets, their batches and the 8 scenes: mean IoU gains 0.24, 0.30,
# 0.43, global 0.16, 0.17, 0.20; starting from nets pre-trained with other seeds, down to 0.10 and 0.09
# (measured before the direct convolution took the first two layers; seed 0 now: 0.28 and 0.17)
assert gain["mean_iou"] > 0.05 and gain["global_acc"] > 0.05

# %% [markdown]
# With the same 8 scenes, settings and iterations, the pre-trained net fits its training scenes
# faster and labels new scenes far better. Its layers below fc8 already compute features that
# tell background, discs and boxes apart, learnt from 200 scenes; on the target task fc8 mostly
# has to learn to read them, which 8 scenes can teach, and fc8's tenfold rate lets it do so in
# 100 iterations. From scratch, the same 8 scenes and 100 iterations must teach every layer.
#
# What this does not show:
#
# * **A jump as large as ImageNet to VOC.** There the pre-training task is another kind of task
#   (a label per image, 1000 classes) on other photographs. Here pre-training and target are the
#   same kind of task on the same kind of scenes, and the target's classes are among the
#   pre-training's: transfer of the easiest kind.
# * **Whether the gap stays** with more target scenes or longer training. Lesson 14 shows that more
#   target scenes help by themselves; the papers do not train from scratch at all (FCN: "Training
#   from scratch is not feasible considering the time required to learn the base classification
#   nets").
# * **A general size.** One seed runs here. The margin in the assert is the one that held across
#   the seeds listed beside it, and the gain also depends on how well the pre-trained net learnt
#   its own classes.
#
# ## What you saw
#
# * One training iteration: sample and preprocess, forward to stride-8 scores against labels
#   shrunk by 8, backward, an SGD step at the poly learning rate.
# * The network outputs a 9x9 score map per class for a 65x65 image; zoomed by 8 and arg-maxed
#   it labels every pixel.
# * It beats the best image-blind guess by a wide margin on every class, and its errors
#   concentrate within a few pixels of the boundaries.
# * Pre-trained on 200 scenes, then fine-tuned on 8 scenes of another task with a new fc8, the net
#   labels held-out scenes far better than the same net trained on those 8 scenes from scratch:
#   DeepLab's "more data helps", ImageNet before VOC.
#
# **Next:** [08_crf_loglinear.ipynb](08_crf_loglinear.ipynb) — the CRF that will sharpen the
# blobby boundaries seen above, as a log-linear model.
#
# ## References
#
# * L.-C. Chen, G. Papandreou, I. Kokkinos, K. Murphy, A. L. Yuille. *Semantic Image
#   Segmentation with Deep Convolutional Nets and Fully Connected CRFs.* ICLR 2015,
#   arXiv:1412.7062 (DeepLab-LargeFOV, the labels shrunk by 8, the bilinear zoom; fine-tuning the
#   ImageNet-trained VGG-16 with a new 21-way last layer, learning rate 0.001 and 0.01 for it).
# * J. Long, E. Shelhamer, T. Darrell. *Fully Convolutional Networks for Semantic
#   Segmentation.* CVPR 2015 (training a fully convolutional net on whole images with a
#   per-pixel loss; fine-tuning all layers of nets trained for classification).
# * K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image
#   Recognition.* ICLR 2015, arXiv:1409.1556 (VGG-16, trained on ILSVRC-2012: 1000 classes,
#   1.3M training images).
