# %% [markdown]
# # Lesson 13 — DeepLab = DCNN + fully connected CRF
#
# The DCNN's softmax gives P(label | pixel); its negative log is the CRF's **unary**,
# U = -log P. The fully connected CRF then runs a few mean-field iterations; each one
# sharpens the beliefs along image edges. The paper's Figure 1 shows, per iteration, the
# *score map* (the input to the softmax) and the *belief map* (its output).

# %%
import minideeplab  # before NumPy: it sets OPENBLAS_THREAD_TIMEOUT=4 (see the README's Benchmarks)
import matplotlib.pyplot as plt
import numpy as np

from minideeplab.crf import dense_crf
from minideeplab.predict import predict_probs
from minideeplab.recipes import synthetic_config, synthetic_model, synthetic_scenes
from minideeplab.train import Trainer

# lesson 7's small DeepLab (minideeplab.recipes writes the same recipe down once)
model = synthetic_model()
Trainer(model, synthetic_scenes(200), synthetic_config(max_iter=500)).fit(progress=False)
test = synthetic_scenes(10, (97, 129), train=False)
image, truth = test[1]
probs = predict_probs(model, image)

# %% tags=["solution"]
# Exercise: the CRF's unary U = -log P, with P clipped to at least 1e-5 (L, H, W), and Q0, the
# beliefs before any mean-field iteration: softmax(-U) over the labels.
# BEGIN SOLUTION
U = -np.log(np.clip(probs, 1e-5, 1.0))
Q0 = np.exp(-U) / np.exp(-U).sum(0)
# END SOLUTION

# %%
params = dict(w_bilateral=10.0, theta_alpha=30.0, theta_beta=13.0, w_gaussian=3.0, theta_gamma=3.0)
Q, history = dense_crf(image, probs, n_iter=10, return_history=True, **params)
assert np.abs(history[0] - Q0).max() < 1e-5
c = int(np.bincount(truth.ravel(), minlength=4)[1:].argmax()) + 1  # the largest object class
fig, ax = plt.subplots(2, 5, figsize=(13, 5))
for k, it in enumerate([0, 1, 2, 5, 10]):
    q = history[it][c]
    score = np.log(np.maximum(history[it], 1e-12))[c]  # log-beliefs: the score map up to a constant
    ax[0, k].imshow(score, cmap="magma"); ax[0, k].set_title(f"score, iteration {it}")
    ax[1, k].imshow(q, vmin=0, vmax=1); ax[1, k].set_title(f"belief, iteration {it}")
for a in ax.ravel():
    a.axis("off")
plt.show()

# %% [markdown]
# ## Does it help? And what do w1, theta_alpha and theta_beta do?

# %%
test_probs = [predict_probs(model, test[i][0]) for i in range(len(test))]  # the DCNN runs once


def accuracy(**p):
    return np.mean([(dense_crf(test[i][0], test_probs[i], **p).argmax(0) == test[i][1]).mean()
                    for i in range(len(test))])


dcnn = np.mean([(test_probs[i].argmax(0) == test[i][1]).mean() for i in range(len(test))])
crf = accuracy(**params)
print(f"pixel accuracy on {len(test)} scenes: DCNN {dcnn:.3f}, DCNN + CRF {crf:.3f}")
assert crf > dcnn

for name, values in [("w_bilateral", [0.0, 3.0, 10.0, 30.0]), ("theta_alpha", [5.0, 30.0, 120.0]),
                     ("theta_beta", [3.0, 13.0, 50.0])]:
    print(name, {v: round(float(accuracy(**dict(params, **{name: v}))), 3) for v in values})

# %% [markdown]
# w1 = 0 switches the appearance kernel off (only the smoothness kernel is left). Larger w1
# snaps labels to colour edges; theta_alpha sets how far (in pixels) the colour agreement
# reaches; a small theta_beta demands very similar colours, a large one ignores colour.
