"""The ``minideeplab`` command.

Sub-commands:

* ``minideeplab demo``  - train a small DeepLab on generated scenes and segment held-out ones
* ``minideeplab train`` - train a DeepLab variant (synthetic scenes for now), with checkpoints and resume
* ``minideeplab compare-crf`` - unary vs grid CRF vs fully connected CRF on MSRC-21: table and figures
* ``minideeplab segment IMAGE`` - a colour label map and an overlay, with a dense/grid/no CRF
* ``minideeplab crf IMAGES_DIR PROBS_DIR --out DIR`` - the dense or grid CRF over a folder of saved probabilities
* ``minideeplab train-unaries`` - the TextonBoost-style classic unaries (boosted trees over texton features)
* ``minideeplab info``  - parameter count, output stride and receptive field of a variant
"""
from __future__ import annotations

import argparse
import os
import sys

from . import _commands as commands
from . import denormal


def build_parser():
    """The ``minideeplab`` argument parser. One language across sub-commands: the MSRC
    folder is ``--data``, an architecture ``--arch``, a weights file ``--model``, output
    ``--out`` (``-o`` for one output file); the old spellings work for one release, with a
    warning (:mod:`minideeplab._cli_compat`)."""
    from ._cli_compat import Renamed, RenamedPositional, TrainArch, TrainData
    from .models.deeplab import VARIANTS

    msrc_help = ("MSRC-21 folder (Images/ and newsegmentations_mats/ or GroundTruth/; "
                 "default: $MINIDEEPLAB_MSRC, else ../shared/data/msrc)")
    p = argparse.ArgumentParser(prog="minideeplab", description="DeepLab from scratch")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the shipped MSRC unaries (DCNN, TextonBoost) and both CRFs on the embedded MSRC images")
    d.add_argument("--unaries", default="all", choices=["dcnn", "textonboost", "all"],
                   help="the unary source: the DCNN, the TextonBoost classifier, or both (default)")
    d.add_argument("--model", default=None, help="another DCNN model file (default: the shipped MSRC model)")
    d.add_argument("--synthetic", action="store_true",
                   help="instead, train a small DeepLab on generated scenes and segment held-out ones")
    d.add_argument("--iters", type=int, default=1000, help="with --synthetic: training iterations")
    d.add_argument("--out", default="out", help="folder for the figure demo.png ('' for none)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=commands.demo)

    t = sub.add_parser("train", help="train a DeepLab variant with checkpoints and resume")
    t.add_argument("--dataset", default=None, choices=["synthetic", "msrc"],
                   help="generated scenes or MSRC-21 (default: msrc if --data is given, else synthetic)")
    t.add_argument("--data", default=None, metavar="DIR", action=TrainData, help=msrc_help)
    t.add_argument("--root", dest="data", metavar="DIR", action=Renamed, new="--data")
    t.add_argument("--split", default="train", choices=["train", "trainval"], help="MSRC split to train on")
    t.add_argument("--protocol", default="all-classes", choices=["all-classes", "voc-style"],
                   help="MSRC: the 21 classes, or VOC's way (stuff merged into background, objects 1..15, "
                        "boxes around objects only)")
    t.add_argument("--strong-images", type=int, default=None, metavar="N",
                   help="pixel labels for N training images only (drawn from --seed): with --supervision strong "
                        "train on them alone (strong-only), with semi the rest have image labels (default: a quarter)")
    t.add_argument("--hold-out", default=None, metavar="I/K",
                   help="MSRC: leave out fold I of K (the training images at positions I, I+K, I+2K, ...; "
                        "0 <= I < K): the net never sees them, so its scores on them are held-out unaries")
    t.add_argument("--strong-per-batch", type=int, default=0, metavar="K",
                   help="semi: K of each batch's images from the pixel-labelled ones, the rest from the "
                        "image-labelled ones, as Papandreou et al. mix them (0: all drawn at random)")
    t.add_argument("--e-step-every", type=int, default=0, metavar="K",
                   help="semi / em-adapt: re-estimate the weak images' labels on whole images every K iterations "
                        "(explicit EM, targets kept in the checkpoint); 0: on every crop as it is drawn")
    t.add_argument("--supervision", default="strong",
                   choices=["strong", "semi", "bbox-rect", "bbox-seg", "em-adapt"],
                   help="pixel labels, a quarter pixel + the rest image labels (EM-Fixed), boxes, image labels")
    t.add_argument("--scales", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="random rescaling range, e.g. 0.7 1.3")
    t.add_argument("--arch", default="DeepLab-LargeFOV", choices=list(VARIANTS), help="the DeepLab variant")
    t.add_argument("--model", dest="arch", metavar="ARCH", action=TrainArch, arch_choices=VARIANTS)
    t.add_argument("--width", type=float, default=0.125, help="channel width multiplier (1.0: the paper's net)")
    t.add_argument("--classes", type=int, default=4, help="synthetic scenes: number of classes (background included)")
    t.add_argument("--images", type=int, default=200, help="synthetic scenes: number of training images")
    t.add_argument("--size", type=int, default=65, help="synthetic scenes: image side in pixels")
    t.add_argument("--crop", type=int, default=65, help="training crop side in pixels")
    t.add_argument("--batch-size", type=int, default=4, help="images per forward/backward pass")
    t.add_argument("--iter-size", type=int, default=1, help="batches whose gradients add up to one update (Caffe)")
    t.add_argument("--max-iter", type=int, default=1000, help="parameter updates in all")
    t.add_argument("--lr", type=float, default=1e-2, help="base learning rate")
    t.add_argument("--lr-policy", default="poly", choices=["poly", "step", "fixed"],
                   help="learning-rate schedule (poly: power 0.9, as DeepLab)")
    t.add_argument("--step-size", type=int, default=2000, help="step policy: iterations between lr drops (x0.1)")
    t.add_argument("--snapshot-every", type=int, default=100, help="write OUT/checkpoint.npz every N iterations")
    t.add_argument("--dropout", type=float, default=0.0, help="after fc6/fc7; the paper's 0.5 hurts narrow nets")
    t.add_argument("--classifier-lr-mult", type=float, default=1.0, help="fc8's lr multiplier (DeepLab: 10)")
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"],
                   help="DeepLab's SGD, or Adam (faster from scratch)")
    t.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay")
    t.add_argument("--color-jitter", type=float, default=0.0, metavar="S",
                   help="random brightness, contrast and saturation factors in [1 - S, 1 + S] (0: off)")
    t.add_argument("--class-weights", default="none", choices=["none", "median-frequency"],
                   help="weight the loss per class (median frequency balancing favours the class average)")
    t.add_argument("--input-scale", type=float, default=1.0,
                   help="the model sees images rescaled by this at test time (train with --scales around it)")
    t.add_argument("--val-every", type=int, default=0,
                   help="MSRC: score the validation split every N iterations (logged in train_log.json)")
    t.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from this model file's weights (a second schedule; optimizer state starts fresh)")
    t.add_argument("--crf-head", action="store_true",
                   help="train end to end through a mean-field CRF (CRF-as-RNN); the learned CRF is stored with "
                        "the model (compare-crf's 'learned CRF', segment --crf learned)")
    t.add_argument("--crf-head-scale", type=float, default=0.5, metavar="S",
                   help="with --crf-head: the CRF runs on the crop resized by S (a CPU budget)")
    t.add_argument("--crf-lr", type=float, default=0.01, help="with --crf-head: Adam's learning rate for the CRF")
    t.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and the augmentation")
    t.add_argument("--out", default="runs/train", help="folder for checkpoint.npz, train_log.json and model.npz")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz if present")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=commands.train)

    g = sub.add_parser("segment", help="a colour label map and an overlay for any image")
    g.add_argument("image", help="an image file")
    g.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="label map PNG (default: IMAGE_labels.png); the overlay goes beside it as *_overlay.png")
    g.add_argument("--output", dest="out", metavar="FILE", action=Renamed, new="-o/--out")
    g.add_argument("--crf", default="dense", choices=["dense", "grid", "learned", "none"],
                   help="the CRF after the net (learned: the one learn-crf stored in the model)")
    g.add_argument("--model", default=None,
                   help="a model file written by minideeplab.models.save_model (default: the shipped MSRC model)")
    g.set_defaults(func=commands.segment)

    c = sub.add_parser("compare-crf", help="unary vs grid CRF vs fully connected CRF on MSRC-21")
    c.add_argument("--data", default=None, metavar="DIR", help=msrc_help)
    c.add_argument("--split", default="test", choices=["train", "val", "trainval", "test"], help="MSRC split to score")
    c.add_argument("--unaries", default="dcnn", choices=["dcnn", "textonboost", "all"],
                   help="the unary source: the DCNN (--model), TextonBoost (--textonboost) or both, one after the other")
    c.add_argument("--model", default=None, help="a DCNN model file (default: the shipped MSRC model)")
    c.add_argument("--textonboost", default=None, metavar="FILE",
                   help="a TextonBoost file from train-unaries, tuned by tune-crf (default: the shipped one)")
    c.add_argument("--out", default="out/compare",
                   help="folder for results.json, results.md, examples.png and trimap.png "
                        "(with --unaries all: one subfolder per source)")
    c.add_argument("--limit", type=int, default=0, help="only the first N images")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=commands.compare_crf)

    u = sub.add_parser("tune-crf", help="cross-validate both CRFs on MSRC's validation split, store them in the model")
    u.add_argument("--model", required=True,
                   help="a DCNN model file or a TextonBoost file (train-unaries); the chosen parameters are written "
                        "into it")
    u.add_argument("--unaries", default=None, choices=["dcnn", "textonboost"],
                   help="the kind of unary source --model must be (default: whichever it is)")
    u.add_argument("--data", default=None, metavar="DIR", help=msrc_help)
    u.add_argument("--split", default="val", choices=["train", "val", "trainval"], help="MSRC split to tune on")
    u.add_argument("--metric", default="global_acc", choices=["global_acc", "class_avg_acc", "mean_iou"],
                   help="the score to maximise")
    u.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="write to this model file instead of updating --model")
    u.add_argument("--output", dest="out", metavar="FILE", action=Renamed, new="-o/--out")
    u.add_argument("--limit", type=int, default=0, help="only the first N images")
    u.add_argument("--input-scales", nargs="+", default=None, metavar="S",
                   help="first choose the model's test-time input scale among these (e.g. 0.5 0.625 0.5,0.625: "
                        "a comma list averages the scores at several scales)")
    u.add_argument("--test-flip", choices=("keep", "no", "yes", "choose"), default="keep",
                   help="average the left-right mirrored image's scores too: keep the model's choice, "
                        "no, yes, or choose on the split (with each --input-scales candidate)")
    u.add_argument("--quiet", action="store_true", help="no progress bar")
    u.set_defaults(func=commands.tune_crf)

    lc = sub.add_parser("learn-crf", help="learn the dense CRF's weights and a full label compatibility matrix "
                                          "on MSRC's training split, store them in the model")
    lc.add_argument("--model", required=True, help="a DeepLab or TextonBoost model file (its unaries); the learned "
                                                   "CRF is written into it")
    lc.add_argument("--data", default=None, metavar="DIR", help=msrc_help)
    lc.add_argument("--split", default="train", choices=["train", "trainval", "val-half"],
                    help="MSRC split to learn on; val-half: learn on every other validation image and pick on "
                         "the others (unaries the net was not trained on; on its own training images they are "
                         "far more confident and right than on new ones)")
    lc.add_argument("--folds", default=None, metavar="DIR",
                    help="with --split train: the training images' unaries from the k-fold nets in DIR "
                         "(fold0/model.npz, fold1/model.npz, ..., trained with train --hold-out I/K), each image "
                         "scored by the net that left it out, at the model's test-time setting; the validation "
                         "images keep the model's own")
    lc.add_argument("--steps", type=int, default=2000, help="Adam steps, --batch random crops each")
    lc.add_argument("--batch", type=int, default=1, help="crops per step (their mean gradient: a less noisy path)")
    lc.add_argument("--crop", type=int, default=128, help="crop side in pixels")
    lc.add_argument("--lr", type=float, default=0.02, help="Adam's learning rate")
    lc.add_argument("--n-iter", type=int, default=5, help="mean-field iterations while learning")
    lc.add_argument("--metric", default="class_avg_acc", choices=["global_acc", "class_avg_acc", "mean_iou"],
                    help="the validation score that picks the iteration count and the stopping point")
    lc.add_argument("--val-every", type=int, default=250, help="score the validation split every N steps")
    lc.add_argument("--class-weights", default="none", choices=["none", "median-frequency"],
                    help="weigh the loss per class (median frequency over the learning images): learn for the "
                         "class average rather than the pixel accuracy")
    lc.add_argument("--class-weight-power", type=float, default=1.0, metavar="P",
                    help="with --class-weights median-frequency: each weight to the power P (0.5 halfway to no "
                         "weights, 2 or 3 further towards the rare classes)")
    lc.add_argument("--loss", default="cross-entropy", choices=["cross-entropy", "expected-error"],
                    help="what learning minimises: the pixel cross-entropy of Q, or its expected error 1 - Q(y) "
                         "(bounded: a smoothing CRF's confidently wrong regions do not outweigh its gains)")
    lc.add_argument("--average", type=float, default=None, metavar="D",
                    help="check and keep a moving average of the parameters (decay D, e.g. 0.98) rather than the "
                         "last step's")
    lc.add_argument("--potts-prior", type=float, default=0.0, metavar="LAMBDA",
                    help="keep the compatibility near Potts: loss + LAMBDA/2 * ||mu - Potts||^2")
    lc.add_argument("--keep-weights", action="store_true",
                    help="keep the model's cross-validated kernel weights; learn the compatibility matrix alone")
    lc.add_argument("--learn-bias", action="store_true",
                    help="also learn a per-class bias (a label prior added to the log-probabilities, dense_crf's "
                         "bias): with --class-weights it shifts the balance towards the rare classes")
    lc.add_argument("--per-kernel", action="store_true",
                    help="learn one compatibility matrix per kernel (bilateral, Gaussian) rather than one shared")
    lc.add_argument("--limit", type=int, default=0, help="only the first N training images")
    lc.add_argument("--val-limit", type=int, default=0, help="only the first N validation images")
    lc.add_argument("--seed", type=int, default=0, help="seed of the crops")
    lc.add_argument("-o", "--out", default=None, metavar="FILE",
                    help="write to this model file instead of updating --model")
    lc.add_argument("--checkpoint", default=None, metavar="FILE",
                    help="state file, written every 100 steps (default: OUT with .learn-crf.npz)")
    lc.add_argument("--resume", action="store_true", help="continue from the state file if present")
    lc.add_argument("--quiet", action="store_true", help="no progress bar")
    lc.set_defaults(func=commands.learn_crf)

    tb = sub.add_parser("train-unaries", help="train the TextonBoost-style classic unaries on MSRC-21 "
                                              "(needs scikit-learn: pip install minideeplab[textonboost])")
    tb.add_argument("--data", default=None, metavar="DIR", help=msrc_help)
    tb.add_argument("--split", default="train", choices=["train", "trainval"], help="MSRC split to train on")
    tb.add_argument("-o", "--out", required=True, metavar="FILE", help="the model file to write (.npz)")
    tb.add_argument("--k", type=int, default=400, help="textons (k-means centres)")
    tb.add_argument("--n-layout", type=int, default=300, help="texture-layout features (rectangle, texton)")
    tb.add_argument("--sample-stride", type=int, default=8, help="train on every N-th pixel of every N-th row")
    tb.add_argument("--max-iter", type=int, default=300, help="boosting rounds (one tree per class each)")
    tb.add_argument("--learning-rate", type=float, default=0.1, help="boosting's shrinkage")
    tb.add_argument("--limit", type=int, default=0,
                    help="only N training images, evenly spread over the split (it is sorted by scene type)")
    tb.add_argument("--val-limit", type=int, default=0,
                    help="score only the first N validation images afterwards (with --split train)")
    tb.add_argument("--seed", type=int, default=0, help="seeds textons, layout features, sampling and boosting")
    tb.add_argument("--quiet", action="store_true", help="no progress bars")
    tb.set_defaults(func=commands.train_unaries)

    r = sub.add_parser("crf", help="the dense or grid CRF over a folder of images and saved probability maps",
                       description="For each image IMAGES_DIR/NAME.* and its probabilities PROBS_DIR/NAME.npy "
                                   "((L, H, W), summing to one over L), write OUT/NAME.png (uint8 label indices), "
                                   "with --colour OUT/colour/NAME.png, with --save-q OUT/NAME.npy (Q, float32). "
                                   "Images whose outputs exist are skipped. A bad file (no probabilities, sizes "
                                   "that differ, not an image) gets an error line; the others go on, and the exit "
                                   "status is 1 if any failed.")
    r.add_argument("images_dir", metavar="IMAGES_DIR", help="folder of images (every file not starting with '.')")
    r.add_argument("probs_dir", metavar="PROBS_DIR", help="folder of NAME.npy probability maps, (L, H, W)")
    r.add_argument("--out", required=True, metavar="DIR", help="output folder")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes, one Numba thread each (default: the CPU count)")
    r.add_argument("--method", default="dense", choices=["dense", "grid"],
                   help="fully connected CRF (dense_crf) or grid CRF (grid_crf)")
    r.add_argument("--save-q", action="store_true", help="also write Q as OUT/NAME.npy, (L, H, W) float32")
    r.add_argument("--colour", action="store_true", help="also write colour label maps to OUT/colour/NAME.png")
    r.add_argument("--model", default=None, metavar="FILE",
                   help="take the CRF parameters (and the colours) stored in this model file by tune-crf; "
                        "the options below override them")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    k = r.add_argument_group("CRF parameters (default: those of dense_crf / grid_crf, or --model's)")
    k.add_argument("--n-iter", type=int, default=None, metavar="N", help="mean-field iterations (both CRFs)")
    k.add_argument("--w-bilateral", type=float, default=None, metavar="W", help="dense: appearance kernel weight w1")
    k.add_argument("--theta-alpha", type=float, default=None, metavar="STD",
                   help="dense: appearance kernel position std (pixels)")
    k.add_argument("--theta-beta", type=float, default=None, metavar="STD", help="dense: appearance kernel colour std")
    k.add_argument("--w-gaussian", type=float, default=None, metavar="W", help="dense: smoothness kernel weight w2")
    k.add_argument("--theta-gamma", type=float, default=None, metavar="STD",
                   help="dense: smoothness kernel position std (pixels)")
    k.add_argument("--connectivity", type=int, default=None, choices=[4, 8], help="grid: 4 or 8 neighbours")
    k.add_argument("--w-smooth", type=float, default=None, metavar="W", help="grid: constant Potts weight")
    k.add_argument("--w-contrast", type=float, default=None, metavar="W", help="grid: contrast-sensitive Potts weight")
    k.add_argument("--beta", type=float, default=None, metavar="B",
                   help="grid: contrast scale (default: 1 / (2 mean squared colour difference))")
    r.set_defaults(func=commands.crf)

    i = sub.add_parser("info", help="parameters, output stride and receptive field of a model")
    archs = ["VGG-16"] + list(VARIANTS)
    i.add_argument("--arch", default="DeepLab-LargeFOV", choices=archs, metavar="ARCH",
                   help="the architecture: " + ", ".join(archs))
    i.add_argument("old_arch", metavar="ARCH", choices=archs, nargs="?", action=RenamedPositional, command="info",
                   new="--arch", dest_new="arch")
    i.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    i.add_argument("--classes", type=int, default=None, help="number of classes (default: 21; VGG-16: 1000)")
    i.set_defaults(func=commands.info)
    return p


USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, FloatingPointError)
"""What :func:`main` reports as one line ``minideeplab: error: ...`` with exit status 2: bad
arguments and bad files (``FileFormatError`` is a ``ValueError``), paths that are missing,
folders or forbidden, and a training loss that diverged. Any other exception is a bug and
keeps its traceback."""


def _one_line(exc):
    """The message of ``exc`` on one line; an OSError as ``"<reason>: <path>"``."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv=None):
    """Run the command line; returns the exit status (0 done, 2 bad arguments or files,
    1 output pipe closed early, as by ``minideeplab info | head -1``).

    It computes in the CPU's flush-to-zero mode and restarts the BLAS and kernel threads on the
    way in and out (:mod:`minideeplab.denormal`): do not call it while other threads compute."""
    args = build_parser().parse_args(argv)
    try:
        with denormal.flushing(_flush_denormal_wanted()):  # a trained net's tiny products cost no microcode
            status = args.func(args)
            sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return status
    except BrokenPipeError:  # the standard way (Python's signal docs): no traceback, no second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        if os.environ.get("MINIDEEPLAB_TRACEBACK"):  # to debug: the whole story, not one line
            raise
        print(f"minideeplab: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _flush_denormal_wanted():
    """Whether the command computes in the CPU's flush-to-zero mode (:mod:`minideeplab.denormal`):
    yes unless the environment says ``MINIDEEPLAB_FLUSH_DENORMAL=0``."""
    value = os.environ.get("MINIDEEPLAB_FLUSH_DENORMAL", "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value not in ("1", "true", "yes", "on"):
        raise ValueError(f"MINIDEEPLAB_FLUSH_DENORMAL must be 0 or 1 (off/on), got {value!r}")
    return True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
