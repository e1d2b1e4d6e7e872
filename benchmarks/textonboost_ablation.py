"""Do the orientation features help? Boosted trees on the TextonBoost features with and
without the gradient-orientation group, scored on MSRC's validation split.

The textons and texture-layout rectangles come from an existing TextonBoost file (``--base``,
e.g. one written by ``minideeplab train-unaries``), so that both arms see the same features
apart from the orientation group. Both arms train scikit-learn's HistGradientBoostingClassifier
(``--rounds`` rounds, learning rate 0.1, l2 1.0) on every ``--sample-stride``-th pixel of every
``--every``-th training image and predict every 4th pixel of every 4th row of the validation
images (no interpolation: the scored pixels are the predicted ones).

    python benchmarks/textonboost_ablation.py --base runs/textonboost/tb_it150_s10.npz
"""
import argparse
import os
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="a TextonBoost file: its textons and layout features are reused")
    p.add_argument("--data", default=os.environ.get("MINIDEEPLAB_MSRC", "../shared/data/msrc"))
    p.add_argument("--every", type=int, default=2, help="use every N-th training image")
    p.add_argument("--sample-stride", type=int, default=10)
    p.add_argument("--rounds", type=int, default=100)
    args = p.parse_args()

    from sklearn.ensemble import HistGradientBoostingClassifier

    from minideeplab.datasets import MSRC
    from minideeplab.metrics import confusion_matrix, summarize
    from minideeplab.unaries import TextonBoost, orientation_features, rgb_to_lab

    base = TextonBoost.load(args.base)
    base.orientation_rects = None        # the features without the orientation group
    train, val = MSRC(args.data, "train"), MSRC(args.data, "val")
    rng = np.random.default_rng(0)
    S = args.sample_stride
    Xb, Xo, y = [], [], []
    t = time.time()
    for i in range(0, len(train), args.every):
        image, label = train[i]
        oy, ox = rng.integers(0, S, size=2)
        keep = label[oy::S, ox::S] != 255
        Xb.append(base.features(image)[oy::S, ox::S][keep])
        Xo.append(orientation_features(rgb_to_lab(image)[..., 0])[oy::S, ox::S][keep])
        y.append(label[oy::S, ox::S][keep])
    Xb, Xo, y = np.concatenate(Xb), np.concatenate(Xo), np.concatenate(y)
    V = [(base.features(im)[::4, ::4], orientation_features(rgb_to_lab(im)[..., 0])[::4, ::4], lab[::4, ::4])
         for im, lab in (val[i] for i in range(len(val)))]
    print(f"features: {time.time() - t:.0f} s; {len(y)} training pixels from {len(range(0, len(train), args.every))} "
          f"images; {Xb.shape[1]} features + {Xo.shape[1]} orientation features", flush=True)
    print("| features | fit s | val global | class-average | mIoU |\n|---|---|---|---|---|")
    for name, with_o in (("TextonBoost", False), ("TextonBoost + orientation", True)):
        t = time.time()
        X = np.concatenate([Xb, Xo], 1) if with_o else Xb
        clf = HistGradientBoostingClassifier(max_iter=args.rounds, learning_rate=0.1, l2_regularization=1.0,
                                             early_stopping=False, random_state=0).fit(X, y)
        conf = np.zeros((21, 21), np.int64)
        for fb, fo, lab in V:
            f = np.concatenate([fb, fo], -1) if with_o else fb
            pred = clf.classes_[clf.predict_proba(f.reshape(-1, f.shape[-1])).argmax(1)].reshape(lab.shape)
            confusion_matrix(lab, pred, 21, out=conf)
        s = summarize(conf)
        print(f"| {name} | {time.time() - t:.0f} | {100 * s['global_acc']:.1f} | {100 * s['class_avg_acc']:.1f} | "
              f"{100 * s['mean_iou']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
