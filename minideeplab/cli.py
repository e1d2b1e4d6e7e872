"""The ``minideeplab`` command.

Sub-commands:

* ``minideeplab demo``  - train a small DeepLab on generated scenes and segment held-out ones
* ``minideeplab train`` - train a DeepLab variant (synthetic scenes for now), with checkpoints and resume
* ``minideeplab compare-crf`` - unary vs grid CRF vs fully connected CRF on MSRC-21: table and figures
* ``minideeplab segment IMAGE`` - a colour label map and an overlay, with a dense/grid/no CRF
* ``minideeplab crf IMAGES_DIR PROBS_DIR --out DIR`` - the dense or grid CRF over a folder of saved probabilities
* ``minideeplab info``  - parameter count, output stride and receptive field of a variant
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _cmd_info(args):
    from .models import build_model, paper_rf_size, receptive_field
    from .models.deeplab import VARIANTS

    m = build_model(args.arch, num_classes=args.classes, width=args.width)
    rows = receptive_field(m)
    print(f"{m.name} (width {args.width}): {m.num_params():,} parameters, output stride {rows[-1]['jump']}")
    if args.arch in VARIANTS:
        k, d, _ = VARIANTS[args.arch]
        print(f"fc6: {k}x{k} kernel, dilation {d}; paper's RF size {paper_rf_size(k, d)}")
    print(f"{'layer':10s} {'k':>3s} {'s':>3s} {'d':>3s} {'RF':>5s} {'stride':>7s}")
    for r in rows:
        print(f"{r['layer']:10s} {r['kernel']:3d} {r['stride']:3d} {r['dilation']:3d} {r['rf']:5d} {r['jump']:7d}")
    return 0


def _cmd_train(args):
    from .datasets import MSRC, SyntheticScenes
    from .models import DeepLab, save_model
    from .predict import evaluate
    from .train import Trainer, TrainConfig

    if args.val_every < 0:
        raise ValueError(f"--val-every must be >= 0, got {args.val_every}")
    val = None
    dataset = args.dataset or ("msrc" if args.data else "synthetic")
    if dataset == "synthetic":
        ds = SyntheticScenes(args.images, (args.size, args.size), args.classes, objects=(1, 3),
                             radius=(0.2, 0.35), seed=args.seed)
        classes = args.classes
    else:
        ds = MSRC(args.data, args.split)
        classes = MSRC.num_classes
        if args.val_every and args.split == "train":
            val = MSRC(args.data, "val")
    model = DeepLab(args.arch, classes, width=args.width, seed=args.seed, dropout=args.dropout,
                    input_scale=args.input_scale)
    if args.init_from:
        from .models import load_model

        start, _ = load_model(args.init_from)
        if start.variant != model.variant or start.width != model.width or start.num_classes != classes:
            raise ValueError(f"--init-from {args.init_from} is a {start.variant} of width {start.width:g} with "
                             f"{start.num_classes} classes; this run builds a {model.variant} of width "
                             f"{model.width:g} with {classes}")
        model.load_state_dict(start.params)
    background = 0 if dataset == "synthetic" else None  # MSRC has no background class
    target_fn = None
    if args.supervision in ("bbox-rect", "bbox-seg"):
        from .weak import BoxTargets

        ds = BoxTargets(ds, args.supervision, classes, background)
    elif args.supervision in ("semi", "em-adapt"):
        from .weak import em_target_fn

        target_fn, strong = em_target_fn(ds, args.supervision, classes, background, seed=args.seed)
        if strong:
            print(f"semi-supervised: {len(strong)} of {len(ds)} images keep their pixel labels")
    cfg = TrainConfig(crop_size=args.crop, batch_size=args.batch_size, iter_size=args.iter_size,
                      max_iter=args.max_iter, base_lr=args.lr, lr_policy=args.lr_policy,
                      step_size=args.step_size, seed=args.seed, snapshot_every=args.snapshot_every,
                      classifier_lr_mult=args.classifier_lr_mult, scales=tuple(args.scales or ()),
                      optimizer=args.optimizer, weight_decay=args.weight_decay)
    trainer = Trainer(model, ds, cfg, out_dir=args.out, target_fn=target_fn)
    if args.resume and trainer.resume():
        print(f"resumed from {trainer.checkpoint_path()} at iteration {trainer.iteration}")

    def score_val(tr):
        if val is not None and (tr.iteration % args.val_every == 0 or tr.iteration == cfg.max_iter):
            s = evaluate(model, val)
            tr.log[-1].update(val_global=s["global_acc"], val_class_avg=s["class_avg_acc"], val_miou=s["mean_iou"])
            if not args.quiet:
                print(f"\niteration {tr.iteration}: val global {100 * s['global_acc']:.1f}, "
                      f"class-average {100 * s['class_avg_acc']:.1f}, mIoU {100 * s['mean_iou']:.1f}", flush=True)
            model.train()

    trainer.fit(progress=not args.quiet, callback=score_val)
    path = os.path.join(args.out, "model.npz")
    extra = {}
    if dataset == "msrc":
        from .datasets.msrc import CLASSES, palette21

        extra = dict(class_names=list(CLASSES), palette=palette21().tolist())
    save_model(path, model, data=dataset, supervision=args.supervision, iterations=trainer.iteration, **extra,
               train_config={k: v for k, v in vars(args).items() if k != "func"})
    print(f"saved {path}; final loss {trainer.log[-1]['loss']:.4f}")
    return 0


def _cmd_demo(args):
    if args.synthetic:
        return _demo_synthetic(args)
    from .compare import compare_crfs, format_table
    from .datasets import MSRCSamples
    from .datasets.msrc import palette21
    from .models import load_model, load_msrc_model

    t0 = time.perf_counter()
    model, meta = load_model(args.model) if args.model else load_msrc_model()
    ds = MSRCSamples()
    print(f"{model.variant} (width {model.width:g}, {model.num_params():,} parameters, trained on MSRC-21) "
          f"on {len(ds)} embedded MSRC test images; unary vs grid CRF vs fully connected CRF")
    result = compare_crfs(model, ds, meta.get("dense_crf"), meta.get("grid_crf"), progress=not args.quiet,
                          keep=len(ds))
    print(format_table(result))
    if args.out:
        from ._io import remove_stale_temp_files
        from .viz import save_rows

        remove_stale_temp_files(args.out)  # of killed earlier runs
        path = os.path.join(args.out, "demo.png")
        save_rows(path, [[img, lab] + outs for img, lab, outs in result["examples"]],
                  ["image", "ground truth", "unary", "grid CRF", "fully connected CRF"], palette21(),
                  class_names=meta.get("class_names") or ds.class_names)
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo_synthetic(args):
    from .metrics import pixel_accuracy
    from .predict import predict_scores
    from .recipes import synthetic_config, synthetic_model, synthetic_scenes
    from .train import Trainer

    t0 = time.perf_counter()
    train, test = synthetic_scenes(200), synthetic_scenes(6, train=False)
    model, cfg = synthetic_model(), synthetic_config(args.iters)
    print(f"training DeepLab-LargeFOV (width 1/8, {model.num_params():,} parameters) on generated scenes")
    Trainer(model, train, cfg).fit(progress=not args.quiet)
    preds = [predict_scores(model, test[i][0]).argmax(0) for i in range(len(test))]
    acc = pixel_accuracy(np.stack([test[i][1] for i in range(len(test))]), np.stack(preds))
    print(f"pixel accuracy on {len(test)} held-out scenes: {acc:.3f}")
    if args.out:
        from ._io import remove_stale_temp_files
        from .viz import save_rows

        remove_stale_temp_files(args.out)  # of killed earlier runs
        path = os.path.join(args.out, "demo.png")
        save_rows(path, [[test[i][0], test[i][1], p] for i, p in enumerate(preds)],
                  ["image", "ground truth", "DeepLab"], class_names=test.class_names)
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_segment(args):
    from PIL import Image

    from .crf import dense_crf, grid_crf
    from .models import load_model, load_msrc_model
    from ._io import atomic_write_bytes, read_image, remove_stale_temp_files
    from .predict import predict_probs
    from .viz import colorize, overlay

    if not os.path.exists(args.image):
        raise FileNotFoundError(f"no such image: {args.image}")
    image = read_image(args.image)
    model, meta = load_model(args.model) if args.model else load_msrc_model()
    probs = predict_probs(model, image)
    if args.crf == "dense":
        probs = dense_crf(image, probs, **meta.get("dense_crf", {}))
    elif args.crf == "grid":
        probs = grid_crf(image, probs, **meta.get("grid_crf", {}))
    labels = probs.argmax(0).astype(np.uint8)
    palette = np.asarray(meta["palette"], np.uint8) if "palette" in meta else None
    if palette is None and args.model is None:
        from .datasets.msrc import palette21

        palette = palette21()
    out = args.out or os.path.splitext(args.image)[0] + "_labels.png"
    remove_stale_temp_files(os.path.dirname(os.path.abspath(out)))  # of killed earlier runs
    for path, arr in ((out, colorize(labels, palette)),
                      (os.path.splitext(out)[0] + "_overlay.png", overlay(image, labels, 0.5, palette))):
        import io

        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        print(f"wrote {path}")
    names = meta.get("class_names")
    counts = np.bincount(labels.ravel(), minlength=model.num_classes)
    top = [(names[c] if names else str(c), counts[c] / labels.size) for c in np.argsort(-counts)[:5] if counts[c]]
    print("classes: " + ", ".join(f"{n} {share:.0%}" for n, share in top))
    return 0


def _cmd_compare(args):
    from ._io import remove_stale_temp_files
    from .compare import compare_crfs, format_per_class, format_table, write_outputs
    from .datasets import MSRC
    from .datasets.msrc import CLASSES, palette21
    from .models import load_model, load_msrc_model

    model, meta = load_model(args.model) if args.model else load_msrc_model()
    ds = MSRC(args.data, args.split)
    if args.limit:
        ds.names = ds.names[: args.limit]
    remove_stale_temp_files(args.out)  # of killed earlier runs
    result = compare_crfs(model, ds, meta.get("dense_crf"), meta.get("grid_crf"), progress=not args.quiet)
    print(format_table(result))
    print("trimap (global accuracy, %) by band width: " + "; ".join(
        f"{m}: " + " ".join(f"{w}px {100 * a:.1f}" for w, a in t.items()) for m, t in result["trimap"].items()))
    names = meta.get("class_names", CLASSES)
    names = names if len(names) == model.num_classes else None
    print(format_per_class(result, names))
    write_outputs(result, args.out, palette21(), names)
    print(f"wrote {args.out}/results.json, results.md, examples.png, trimap.png")
    return 0


def _cmd_tune(args):
    from .compare import tune_crfs
    from .datasets import MSRC
    from .models import load_model, save_model

    model, meta = load_model(args.model)
    ds = MSRC(args.data, args.split)
    if args.limit:
        ds.names = ds.names[: args.limit]
    scales = None
    if args.input_scales:
        try:
            scales = [tuple(float(v) for v in c.split(",")) if "," in c else float(c) for c in args.input_scales]
        except ValueError:
            raise ValueError(f"--input-scales takes numbers or comma-separated numbers, got {args.input_scales}")
    res = tune_crfs(model, ds, metric=args.metric, progress=not args.quiet, input_scales=scales)
    for c, score in res["input_scale_history"]:
        print(f"input scale {c}: unary {args.metric} {100 * score:.2f}")
    for name in ("dense_crf", "grid_crf"):
        print(f"{name}: {res[name]}  ({args.metric} on {args.split}: {100 * res['scores'][name]:.2f}, "
              f"unary {100 * res['scores']['unary']:.2f})")
    out = args.out or args.model
    meta = {k: v for k, v in meta.items() if k not in ("variant", "num_classes", "width", "dropout", "input_scale")}
    from .datasets.msrc import CLASSES, palette21

    meta.setdefault("class_names", list(CLASSES))
    meta.setdefault("palette", palette21().tolist())
    meta.update(dense_crf=res["dense_crf"], grid_crf=res["grid_crf"],
                crf_validation={"split": args.split, "metric": args.metric, "n_images": res["n_images"],
                                "scores": res["scores"],
                                "input_scales": [[list(c) if isinstance(c, tuple) else c, s]
                                                 for c, s in res["input_scale_history"]]})
    from ._io import remove_stale_temp_files

    remove_stale_temp_files(os.path.dirname(os.path.abspath(out)))  # of killed earlier runs
    save_model(out, model, **meta)
    print(f"wrote the chosen parameters into {out}")
    return 0


CRF_OPTIONS = {
    "dense": ("n_iter", "w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"),
    "grid": ("n_iter", "connectivity", "w_smooth", "w_contrast", "beta"),
}
"""The CRF parameters the ``crf`` command passes on, by method (option ``--w-bilateral`` -> ``w_bilateral``)."""


def _cmd_crf(args):
    from ._io import read_npz_meta
    from .crf.batch import crf_folder

    params, palette = {}, None
    if args.model:
        meta = read_npz_meta(args.model) or {}
        params, palette = dict(meta.get(f"{args.method}_crf") or {}), meta.get("palette")
    for key in CRF_OPTIONS["dense"] + CRF_OPTIONS["grid"]:
        value = getattr(args, key)
        if value is None:
            continue
        if key not in CRF_OPTIONS[args.method]:
            owner = "grid" if args.method == "dense" else "dense"
            raise ValueError(f"--{key.replace('_', '-')} is a parameter of --method {owner}, not {args.method}")
        params[key] = value
    s = crf_folder(args.images_dir, args.probs_dir, args.out, workers=args.workers, method=args.method,
                   save_q=args.save_q, colour=args.colour, palette=palette, progress=not args.quiet, **params)
    for message in s["failed"].values():
        print(f"minideeplab crf: error: {message}", file=sys.stderr)
    if s["unmatched_probs"]:
        print(f"note: {len(s['unmatched_probs'])} probability maps have no image, e.g. "
              f"{s['unmatched_probs'][0]}.npy", file=sys.stderr)
    print(f"{args.method} CRF: {len(s['done'])} done, {len(s['skipped'])} already done, {len(s['failed'])} failed "
          f"in {s['seconds']:.1f} s; outputs in {args.out}")
    return 1 if s["failed"] else 0


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

    d = sub.add_parser("demo", help="the shipped MSRC model and both CRFs on the embedded MSRC images")
    d.add_argument("--model", default=None, help="another model file (default: the shipped MSRC model)")
    d.add_argument("--synthetic", action="store_true",
                   help="instead, train a small DeepLab on generated scenes and segment held-out ones")
    d.add_argument("--iters", type=int, default=1000, help="with --synthetic: training iterations")
    d.add_argument("--out", default="out", help="folder for the figure demo.png ('' for none)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a DeepLab variant with checkpoints and resume")
    t.add_argument("--dataset", default=None, choices=["synthetic", "msrc"],
                   help="generated scenes or MSRC-21 (default: msrc if --data is given, else synthetic)")
    t.add_argument("--data", default=None, metavar="DIR", action=TrainData, help=msrc_help)
    t.add_argument("--root", dest="data", metavar="DIR", action=Renamed, new="--data")
    t.add_argument("--split", default="train", choices=["train", "trainval"], help="MSRC split to train on")
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
    t.add_argument("--input-scale", type=float, default=1.0,
                   help="the model sees images rescaled by this at test time (train with --scales around it)")
    t.add_argument("--val-every", type=int, default=0,
                   help="MSRC: score the validation split every N iterations (logged in train_log.json)")
    t.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from this model file's weights (a second schedule; optimizer state starts fresh)")
    t.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order and the augmentation")
    t.add_argument("--out", default="runs/train", help="folder for checkpoint.npz, train_log.json and model.npz")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz if present")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    g = sub.add_parser("segment", help="a colour label map and an overlay for any image")
    g.add_argument("image", help="an image file")
    g.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="label map PNG (default: IMAGE_labels.png); the overlay goes beside it as *_overlay.png")
    g.add_argument("--output", dest="out", metavar="FILE", action=Renamed, new="-o/--out")
    g.add_argument("--crf", default="dense", choices=["dense", "grid", "none"], help="the CRF after the net")
    g.add_argument("--model", default=None,
                   help="a model file written by minideeplab.models.save_model (default: the shipped MSRC model)")
    g.set_defaults(func=_cmd_segment)

    c = sub.add_parser("compare-crf", help="unary vs grid CRF vs fully connected CRF on MSRC-21")
    c.add_argument("--data", default=None, metavar="DIR", help=msrc_help)
    c.add_argument("--split", default="test", choices=["train", "val", "trainval", "test"], help="MSRC split to score")
    c.add_argument("--model", default=None, help="a model file (default: the shipped MSRC model)")
    c.add_argument("--out", default="out/compare",
                   help="folder for results.json, results.md, examples.png and trimap.png")
    c.add_argument("--limit", type=int, default=0, help="only the first N images")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_compare)

    u = sub.add_parser("tune-crf", help="cross-validate both CRFs on MSRC's validation split, store them in the model")
    u.add_argument("--model", required=True, help="a model file; the chosen parameters are written into it")
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
    u.add_argument("--quiet", action="store_true", help="no progress bar")
    u.set_defaults(func=_cmd_tune)

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
    r.set_defaults(func=_cmd_crf)

    i = sub.add_parser("info", help="parameters, output stride and receptive field of a model")
    archs = ["VGG-16"] + list(VARIANTS)
    i.add_argument("--arch", default="DeepLab-LargeFOV", choices=archs, metavar="ARCH",
                   help="the architecture: " + ", ".join(archs))
    i.add_argument("old_arch", metavar="ARCH", choices=archs, nargs="?", action=RenamedPositional, command="info",
                   new="--arch", dest_new="arch")
    i.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    i.add_argument("--classes", type=int, default=None, help="number of classes (default: 21; VGG-16: 1000)")
    i.set_defaults(func=_cmd_info)
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
    1 output pipe closed early, as by ``minideeplab info | head -1``)."""
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
        return status
    except BrokenPipeError:  # the standard way (Python's signal docs): no traceback, no second error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as exc:
        print(f"minideeplab: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
