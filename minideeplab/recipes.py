"""The small recipe that runs anywhere: DeepLab-LargeFOV at width 1/8, trained from scratch on
65x65 generated scenes of four classes (background and three shapes).

Lesson 7 trains the same network and explains each choice (its own run: half the learning rate,
median-frequency class weights, 900 iterations); the demo, lessons 13 and 14, a test and
``benchmarks/synthetic_training.py`` take it from here. Measured: 1000 iterations of batch 4
reach 0.87 global / 0.73 class-average accuracy on 30 held-out scenes (tests/test_train.py).
"""
from __future__ import annotations

from .datasets import SyntheticScenes
from .models import DeepLab
from .train import TrainConfig

NUM_CLASSES = 4
SCENE_OPTIONS = dict(objects=(1, 3), radius=(0.2, 0.35))
"""One to three objects per scene, each 0.2-0.35 of the shorter side."""
TRAIN_SEED, TEST_SEED = 0, 99


def synthetic_scenes(n, size=(65, 65), train=True):
    """``n`` scenes of the recipe's kind: the training set (seed 0) or held-out ones (seed 99)."""
    return SyntheticScenes(n, size, NUM_CLASSES, seed=TRAIN_SEED if train else TEST_SEED, **SCENE_OPTIONS)


def synthetic_model(seed=0):
    """DeepLab-LargeFOV, width 1/8, no dropout (the paper's 0.5 hurts a net this narrow)."""
    return DeepLab("DeepLab-LargeFOV", NUM_CLASSES, width=1 / 8, seed=seed, dropout=0.0)


def synthetic_config(max_iter=1000):
    """Batch 4 of 65x65 crops, SGD at 1e-2 with the poly schedule, no classifier lr boost."""
    return TrainConfig(crop_size=65, batch_size=4, max_iter=max_iter, base_lr=1e-2, lr_policy="poly", seed=0,
                       classifier_lr_mult=1.0)
