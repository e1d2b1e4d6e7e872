# %% [markdown]
# # Lesson 14 — Results: what the CRF adds, near boundaries and in the tables
#
# The paper's qualitative figures show rows of *input / DCNN output / CRF-DCNN output*; its
# tables report PASCAL VOC 2012 mean IoU with and without the CRF; its trimap plot shows
# that the CRF's gain is concentrated in a narrow band around object boundaries. We
# reproduce the rows and the trimap with minideeplab's MSRC model, keep the paper's VOC
# tables as data, and end with an experiment on why more training data helps.

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf
from minideeplab.datasets import MSRCSamples
from minideeplab.datasets.msrc import palette21
from minideeplab.metrics import boundary_band, trimap_scores
from minideeplab.models import load_msrc_model
from minideeplab.predict import evaluate, predict_probs
from minideeplab.recipes import synthetic_config, synthetic_model, synthetic_scenes
from minideeplab.train import Trainer
from minideeplab.viz import show_rows

model, meta = load_msrc_model()
samples = MSRCSamples()
data = [samples[i] for i in range(len(samples))]
probs = [predict_probs(model, image) for image, _ in data]
dcnn = [p.argmax(0) for p in probs]
crf = [dense_crf(image, p, **meta["dense_crf"]).argmax(0) for (image, _), p in zip(data, probs)]
fig = show_rows([[img, d, c, lab] for (img, lab), d, c in zip(data, dcnn, crf)],
                ["input", "DCNN", "CRF-DCNN", "ground truth"], palette21())
plt.show()

# %% [markdown]
# ## The trimap: accuracy in a band around the boundaries
#
# For a band width w, keep the pixels within w pixels of a ground-truth label boundary and
# score only those. Narrow bands hold the hard pixels; the CRF's gain is largest there.

# %% tags=["solution"]
# Exercise: `band_accuracy(labels, preds, w)`: the pixel accuracy over the pixels of all images
# that are within w pixels of a boundary (minideeplab.metrics.boundary_band) and not void (255).
# BEGIN SOLUTION
def band_accuracy(labels, preds, w):
    right = total = 0
    for lab, pred in zip(labels, preds):
        keep = boundary_band(lab, w) & (lab != 255)
        right += int((pred[keep] == lab[keep]).sum())
        total += int(keep.sum())
    return right / total
# END SOLUTION

# %%
labels = [lab for _, lab in data]
widths = [1, 2, 4, 8, 16, 32]
ref = trimap_scores(labels, crf, widths, 21)
for w in widths:
    assert abs(band_accuracy(labels, crf, w) - ref[w]["global_acc"]) < 1e-12
curve_dcnn = [100 * band_accuracy(labels, dcnn, w) for w in widths]
curve_crf = [100 * band_accuracy(labels, crf, w) for w in widths]
plt.plot(widths, curve_dcnn, "o-", label="DCNN")
plt.plot(widths, curve_crf, "o-", label="CRF-DCNN")
plt.xscale("log", base=2); plt.xlabel("trimap width (pixels)"); plt.ylabel("pixel accuracy in the band (%)")
plt.legend(); plt.title("six MSRC test images"); plt.show()
gain = np.array(curve_crf) - np.array(curve_dcnn)
print("CRF gain by band width:", dict(zip(widths, gain.round(1))))
assert gain[:3].mean() > 0  # the CRF helps in the narrow bands

# %% [markdown]
# ## The paper's PASCAL VOC 2012 numbers (mean IoU, %)
#
# Validation set, trained on the augmented train set: every variant with and without the
# fully connected CRF (ICLR 2015, Table 1a). The CRF adds 3.3 to 5.4 points to each.

# %%
VOC12_VAL = {  # variant: (without CRF, with CRF)
    "DeepLab": (59.80, 63.74),
    "DeepLab-MSc": (61.30, 65.21),
    "DeepLab-7x7": (64.38, 67.64),
    "DeepLab-LargeFOV": (62.25, 67.64),
    "DeepLab-MSc-LargeFOV": (64.21, 68.70),
}
VOC12_TEST = {  # trained on the augmented trainval set (ICLR 2015, Table 1b)
    "MSRA-CFM": 61.8, "FCN-8s": 62.2, "TTI-Zoomout-16": 64.4, "DeepLab-CRF": 66.4,
    "DeepLab-MSc-CRF": 67.1, "DeepLab-CRF-7x7": 70.3, "DeepLab-CRF-LargeFOV": 70.3,
    "DeepLab-MSc-CRF-LargeFOV": 71.6,
}
names = list(VOC12_VAL)
fig, ax = plt.subplots(1, 2, figsize=(13, 3.5))
x = np.arange(len(names))
ax[0].bar(x - 0.2, [VOC12_VAL[n][0] for n in names], 0.4, label="DCNN")
ax[0].bar(x + 0.2, [VOC12_VAL[n][1] for n in names], 0.4, label="DCNN + CRF")
ax[0].set_xticks(x, names, rotation=20); ax[0].set_ylim(55, 72); ax[0].legend(); ax[0].set_title("VOC 2012 val")
ax[1].barh(list(VOC12_TEST), list(VOC12_TEST.values())); ax[1].set_xlim(55, 75); ax[1].set_title("VOC 2012 test")
plt.tight_layout(); plt.show()
crf_gain = {n: round(b - a, 2) for n, (a, b) in VOC12_VAL.items()}
print("CRF gain on VOC 2012 val:", crf_gain)
assert min(crf_gain.values()) > 3 and max(VOC12_TEST, key=VOC12_TEST.get) == "DeepLab-MSc-CRF-LargeFOV"

# %% [markdown]
# ## Why more data helps
#
# DeepLab starts from ImageNet weights and trains on 10,582 VOC images; its follow-ups add
# MS-COCO's O(100K) annotated images for further gains. The reason shows at any scale: a
# network trained on few images fits them and generalises worse. Two identical small
# DeepLabs, same iterations, one trained on 4 synthetic scenes and one on 200:

# %%
test = synthetic_scenes(40, train=False)
result = {}
for n in (4, 200):
    net = synthetic_model()  # lesson 7's small DeepLab, the same for both
    losses = Trainer(net, synthetic_scenes(n), synthetic_config(max_iter=800)).fit(progress=False)
    result[n] = (np.mean(losses[-50:]), evaluate(net, test))
    print(f"{n:4d} training scenes: final training loss {result[n][0]:.3f}, "
          f"held-out class-average accuracy {result[n][1]['class_avg_acc']:.3f}, mIoU {result[n][1]['mean_iou']:.3f}")
assert result[200][1]["mean_iou"] > result[4][1]["mean_iou"]
