"""DeepLab-LargeFOV (width 1/8) trained from scratch on generated scenes; accuracy on held-out ones.

    python benchmarks/synthetic_training.py

The recipe of ``minideeplab.recipes`` (as in tests/test_train.py::test_synthetic_scenes_reach_stated_accuracy
and ``minideeplab demo --synthetic``): dropout 0, fc8 lr multiplier 1, batch 4 of 65x65 crops,
lr 0.01 poly, 1000 iterations, seed 0; 30 held-out scenes.
"""
import time

import numpy as np

from minideeplab.metrics import confusion_matrix, summarize
from minideeplab.predict import predict_scores
from minideeplab.recipes import synthetic_config, synthetic_model, synthetic_scenes
from minideeplab.train import Trainer


def main():
    train, test = synthetic_scenes(200), synthetic_scenes(30, train=False)
    m = synthetic_model()
    t = time.perf_counter()
    losses = Trainer(m, train, synthetic_config(1000)).fit(progress=False)
    secs = time.perf_counter() - t
    conf = sum(confusion_matrix(test[i][1], predict_scores(m, test[i][0]).argmax(0), 4) for i in range(len(test)))
    s = summarize(conf)
    bg = np.mean([np.mean(test[i][1] == 0) for i in range(len(test))])
    print(f"1000 iterations in {secs:.1f} s; loss {np.mean(losses[:50]):.3f} -> {np.mean(losses[-50:]):.3f}")
    print(f"held-out: global {s['global_acc']:.3f}, class-average {s['class_avg_acc']:.3f}, "
          f"mIoU {s['mean_iou']:.3f}; all-background would score {bg:.3f} global, 0.250 class-average")


if __name__ == "__main__":
    main()
