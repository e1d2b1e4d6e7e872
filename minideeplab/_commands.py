"""What each sub-command of ``minideeplab`` does, given its parsed arguments (the parser and
the error handling are in :mod:`minideeplab.cli`). Each returns the exit status."""
from __future__ import annotations

import os
import sys
import time

import numpy as np


def info(args):
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


def train(args):
    from .datasets import MSRC, SyntheticScenes
    from .models import DeepLab, save_model
    from .predict import evaluate
    from .train import Trainer, TrainConfig

    if args.val_every < 0:
        raise ValueError(f"--val-every must be >= 0, got {args.val_every}")
    val = None
    dataset = args.dataset or ("msrc" if args.data else "synthetic")
    if args.hold_out is not None:  # k-fold nets: checked first, recorded in canonical form
        from .unaries.folds import parse_fold

        fold, folds = parse_fold(args.hold_out)
        if dataset != "msrc":
            raise ValueError(f"--hold-out applies to MSRC (--data), not the {dataset} scenes")
        if args.split != "train":
            raise ValueError(f"--hold-out applies to --split train (fold positions are the training split's), "
                             f"not --split {args.split}")
        args.hold_out = f"{fold}/{folds}"
    if dataset == "synthetic":
        ds = SyntheticScenes(args.images, (args.size, args.size), args.classes, objects=(1, 3),
                             radius=(0.2, 0.35), seed=args.seed)
        classes = args.classes
    else:
        ds = MSRC(args.data, args.split)
        if args.val_every and args.split == "train":
            val = MSRC(args.data, "val")
        if args.protocol == "voc-style":  # objects on one background class, boxes around objects only
            from .datasets.voc_style import VOCStyle

            ds, val = VOCStyle(ds), (VOCStyle(val) if val is not None else None)
        classes = ds.num_classes
    if dataset == "synthetic" and args.protocol != "all-classes":
        raise ValueError("--protocol voc-style relabels MSRC-21; it does not apply to the synthetic scenes")
    model = DeepLab(args.arch, classes, width=args.width, seed=args.seed, dropout=args.dropout,
                    input_scale=args.input_scale)
    if args.init_from:
        from .models import load_model

        start, start_meta = load_model(args.init_from)
        start_hold = (start_meta.get("train_config") or {}).get("hold_out")
        if args.hold_out is not None and start_hold != args.hold_out:
            raise ValueError(f"--init-from {args.init_from} was trained "
                             + (f"with --hold-out {start_hold}" if start_hold else "on every training image")
                             + f"; a --hold-out {args.hold_out} run must start from a net of the same fold")
        if start.variant != model.variant or start.width != model.width or start.num_classes != classes:
            raise ValueError(f"--init-from {args.init_from} is a {start.variant} of width {start.width:g} with "
                             f"{start.num_classes} classes; this run builds a {model.variant} of width "
                             f"{model.width:g} with {classes}")
        model.load_state_dict(start.params)
    crf_init = None
    if args.crf_head and args.init_from:  # start from the model's CRF: learned, else cross-validated
        crf_init = ((start_meta.get("learned_crf") or {}).get("params") or start_meta.get("dense_crf") or None)
    if args.crf_head and args.supervision != "strong":
        raise ValueError(f"--crf-head needs pixel labels (--supervision strong), got --supervision {args.supervision}")
    # MSRC has no background class; the VOC-style protocol and the synthetic scenes have one, 0
    background = 0 if dataset == "synthetic" or args.protocol == "voc-style" else None
    target_fn = None
    if args.e_step_every and args.supervision not in ("semi", "em-adapt"):
        raise ValueError(f"--e-step-every applies to --supervision semi or em-adapt, not {args.supervision}")
    if args.strong_images is not None and args.supervision not in ("strong", "semi"):
        raise ValueError(f"--strong-images applies to --supervision strong (strong-only) or semi, "
                         f"not {args.supervision}")
    if args.strong_per_batch and args.supervision != "semi":
        raise ValueError(f"--strong-per-batch applies to --supervision semi, not {args.supervision}")
    if args.hold_out is not None:
        from .weak import Subset

        ds = Subset(ds, [i for i in range(len(ds)) if i % folds != fold])
        print(f"hold-out fold {fold}/{folds}: training on {len(ds)} images")
    strong = None  # semi: the indices of the pixel-labelled images
    if args.strong_images is not None and args.supervision == "strong":  # the baseline of the semi runs
        if args.strong_images < 1:
            raise ValueError(f"--strong-images must be >= 1 with --supervision strong, got {args.strong_images}")
        from .weak import Subset, strong_subset

        ds = Subset(ds, strong_subset(len(ds), args.strong_images, args.seed))
        print(f"strong-only: {len(ds)} pixel-labelled images")
    if args.supervision in ("bbox-rect", "bbox-seg"):
        from .weak import BoxTargets

        ds = BoxTargets(ds, args.supervision, classes, background)
    elif args.supervision in ("semi", "em-adapt") and args.e_step_every:  # EM with explicit E-steps
        from .weak import EMTargets, strong_subset

        size = int(round(0.25 * len(ds))) if args.strong_images is None else args.strong_images
        strong = strong_subset(len(ds), size, args.seed) if args.supervision == "semi" else set()
        ds = EMTargets(ds, args.supervision, classes, background, strong)
        if strong:
            print(f"semi-supervised: {len(strong)} of {len(ds)} images keep their pixel labels")
    elif args.supervision in ("semi", "em-adapt"):
        from .weak import em_target_fn

        target_fn, strong = em_target_fn(ds, args.supervision, classes, background, seed=args.seed,
                                         strong_images=args.strong_images)
        if strong:
            print(f"semi-supervised: {len(strong)} of {len(ds)} images keep their pixel labels")
    cfg = TrainConfig(crop_size=args.crop, batch_size=args.batch_size, iter_size=args.iter_size,
                      max_iter=args.max_iter, base_lr=args.lr, lr_policy=args.lr_policy,
                      step_size=args.step_size, seed=args.seed, snapshot_every=args.snapshot_every,
                      classifier_lr_mult=args.classifier_lr_mult, scales=tuple(args.scales or ()),
                      optimizer=args.optimizer, weight_decay=args.weight_decay,
                      color_jitter=args.color_jitter, class_weighting=args.class_weights,
                      crf_head=args.crf_head, crf_head_scale=args.crf_head_scale, crf_head_lr=args.crf_lr,
                      e_step_every=args.e_step_every, strong_per_batch=args.strong_per_batch)
    trainer = Trainer(model, ds, cfg, out_dir=args.out, target_fn=target_fn, crf_init=crf_init, strong=strong,
                      data_id=None if args.hold_out is None else f"hold-out {args.hold_out}")
    if trainer.class_weights is not None and not args.quiet:
        print("class weights (median frequency): " + " ".join(f"{w:.2f}" for w in trainer.class_weights))
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

    trainer.fit(progress=not args.quiet, callback=score_val, flush_denormal=False)  # main() owns the mode
    path = os.path.join(args.out, "model.npz")
    extra = {}
    if dataset == "msrc" and args.protocol == "voc-style":
        from .datasets.voc_style import VOC_STYLE_CLASSES, voc_style_palette

        extra = dict(class_names=list(VOC_STYLE_CLASSES), palette=voc_style_palette().tolist(), protocol="voc-style")
    elif dataset == "msrc":
        from .datasets.msrc import CLASSES, palette21

        extra = dict(class_names=list(CLASSES), palette=palette21().tolist())
    if trainer.head is not None:  # what compare-crf's "learned CRF" row and segment --crf learned use
        extra["learned_crf"] = {"params": trainer.head.dense_crf_params(), "source": "train --crf-head",
                                "steps": trainer.iteration, "crf_head_scale": args.crf_head_scale,
                                "lr": args.crf_lr}
    save_model(path, model, data=dataset, supervision=args.supervision, iterations=trainer.iteration, **extra,
               train_config={k: v for k, v in vars(args).items() if k != "func"})
    from .backend import current

    print(f"saved {path}; final loss {trainer.log[-1]['loss']:.4f} (arrays on {current()})")
    return 0


def demo(args):
    if args.synthetic:
        return _demo_synthetic(args)
    from .compare import combined_rows, compare_crfs, format_combined
    from .datasets import MSRCSamples
    from .datasets.msrc import palette21
    from .models import load_model, load_msrc_model
    from .unaries.sources import load_shipped_textonboost

    t0 = time.perf_counter()
    ds = MSRCSamples()
    loaders = {"dcnn": lambda: load_model(args.model) if args.model else load_msrc_model(),
               "textonboost": load_shipped_textonboost}
    results = []
    for source in (list(loaders) if args.unaries == "all" else [args.unaries]):
        model, meta = loaders[source]()
        what = (f"{model.variant} (width {model.width:g}, {model.num_params():,} parameters)" if source == "dcnn"
                else f"TextonBoost ({model.trees.num_trees:,} boosted trees over {model.num_features} features)")
        print(f"{source}: {what}, trained on MSRC-21, on {len(ds)} embedded MSRC test images")
        result = compare_crfs(model, ds, meta.get("dense_crf"), meta.get("grid_crf"), progress=not args.quiet,
                              keep=len(ds))
        result["unaries"] = source
        results.append(result)
    print("unary vs grid CRF vs fully connected CRF:")
    print(format_combined(results))
    if args.out:
        from ._io import remove_stale_temp_files
        from .viz import save_rows

        remove_stale_temp_files(args.out)  # of killed earlier runs
        path = os.path.join(args.out, "demo.png")
        titles, rows = combined_rows(results)
        save_rows(path, rows, titles, palette21(), class_names=meta.get("class_names") or ds.class_names)
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
    Trainer(model, train, cfg).fit(progress=not args.quiet, flush_denormal=False)  # main() owns the mode
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


def segment(args):
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
    elif args.crf == "learned":
        if "learned_crf" not in meta:
            raise ValueError("the model has no learned CRF: run minideeplab learn-crf --model ... first")
        params = meta["learned_crf"]["params"]
        probs = dense_crf(image, probs, **dict(params, compat=np.asarray(params["compat"])))
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


def _in_protocol(ds, meta):
    """The MSRC split ``ds`` as the model was trained on it: VOC-style labels if its
    description says ``protocol: voc-style``, else the 21 classes."""
    if meta.get("protocol") == "voc-style":
        from .datasets.voc_style import VOCStyle

        return VOCStyle(ds)
    return ds


def compare_crf(args):
    from ._io import remove_stale_temp_files
    from .compare import compare_crfs, format_per_class, format_table, write_outputs
    from .datasets import MSRC
    from .datasets.msrc import CLASSES, palette21
    from .models import load_msrc_model
    from .unaries.sources import load_shipped_textonboost, load_unaries

    loaders = {"dcnn": lambda: load_unaries(args.model) if args.model else load_msrc_model(),
               "textonboost": lambda: load_unaries(args.textonboost) if args.textonboost else load_shipped_textonboost()}
    sources = list(loaders) if args.unaries == "all" else [args.unaries]
    ds = MSRC(args.data, args.split)
    if args.limit:
        ds.names = ds.names[: args.limit]
    results = []
    for source in sources:
        model, meta = loaders[source]()
        data = _in_protocol(ds, meta)
        out = os.path.join(args.out, source) if len(sources) > 1 else args.out
        remove_stale_temp_files(out)  # of killed earlier runs
        learned = (meta.get("learned_crf") or {}).get("params")
        result = compare_crfs(model, data, meta.get("dense_crf"), meta.get("grid_crf"), progress=not args.quiet,
                              learned_params=learned)
        result["unaries"] = source
        print(f"unaries: {source}")
        print(format_table(result))
        print("trimap (global accuracy, %) by band width: " + "; ".join(
            f"{m}: " + " ".join(f"{w}px {100 * a:.1f}" for w, a in t.items()) for m, t in result["trimap"].items()))
        names = meta.get("class_names", CLASSES)
        names = names if len(names) == model.num_classes else None
        print(format_per_class(result, names))
        palette = np.asarray(meta["palette"], np.uint8) if "palette" in meta else palette21()
        write_outputs(result, out, palette, names)
        print(f"wrote {out}/results.json, results.md, examples.png, trimap.png")
        results.append(result)
    if len(results) > 1:
        from .compare import format_combined, write_combined

        print("all unary sources:")
        print(format_combined(results))
        write_combined(results, args.out, palette, names)
        print(f"wrote {args.out}/results.json, results.md, examples.png")
    return 0


def tune_crf(args):
    from .compare import tune_crfs
    from .datasets import MSRC
    from .unaries.sources import is_textonboost, load_unaries, save_unaries

    model, meta = load_unaries(args.model)
    kind = "textonboost" if is_textonboost(model) else "dcnn"
    if args.unaries is not None and args.unaries != kind:
        raise ValueError(f"--unaries {args.unaries}: --model {args.model} holds {kind} unaries")
    ds = MSRC(args.data, args.split)
    if args.limit:
        ds.names = ds.names[: args.limit]
    scales = None
    if args.input_scales:
        try:
            scales = [tuple(float(v) for v in c.split(",")) if "," in c else float(c) for c in args.input_scales]
        except ValueError:
            raise ValueError(f"--input-scales takes numbers or comma-separated numbers, got {args.input_scales}")
    flips = {"keep": None, "no": [False], "yes": [True], "choose": [False, True]}[args.test_flip]
    res = tune_crfs(model, _in_protocol(ds, meta), metric=args.metric, progress=not args.quiet, input_scales=scales, test_flips=flips)
    for (c, f), score in res["input_scale_history"]:
        print(f"input scale {c}{', mirrored too' if f else ''}: unary {args.metric} {100 * score:.2f}")
    for name in ("dense_crf", "grid_crf"):
        print(f"{name}: {res[name]}  ({args.metric} on {args.split}: {100 * res['scores'][name]:.2f}, "
              f"unary {100 * res['scores']['unary']:.2f})")
    out = args.out or args.model
    meta = {k: v for k, v in meta.items()
            if k not in ("variant", "num_classes", "width", "dropout", "input_scale", "test_flip")}
    from .datasets.msrc import CLASSES, palette21

    meta.setdefault("class_names", list(CLASSES))
    meta.setdefault("palette", palette21().tolist())
    meta.update(dense_crf=res["dense_crf"], grid_crf=res["grid_crf"],
                crf_validation={"split": args.split, "metric": args.metric, "n_images": res["n_images"],
                                "scores": res["scores"],
                                "input_scales": [[list(c) if isinstance(c, tuple) else c, f, s]
                                                 for (c, f), s in res["input_scale_history"]]})
    from ._io import remove_stale_temp_files

    remove_stale_temp_files(os.path.dirname(os.path.abspath(out)))  # of killed earlier runs
    save_unaries(out, model, meta)
    print(f"wrote the chosen parameters into {out}")
    return 0


def learn_crf(args):
    from .crf.learn import learn_crf as learn
    from .datasets import MSRC
    from .unaries.sources import load_unaries, save_unaries, unary_probs
    from ._io import remove_stale_temp_files

    if args.average is not None and not 0 < args.average < 1:  # before minutes of unaries
        raise ValueError(f"--average must be a decay in (0, 1), got {args.average}")
    if args.batch < 1:
        raise ValueError(f"--batch must be a positive number of crops, got {args.batch}")
    if not (np.isfinite(args.class_weight_power) and args.class_weight_power > 0):
        raise ValueError(f"--class-weight-power must be a finite number > 0, got {args.class_weight_power}")
    if args.class_weight_power != 1 and args.class_weights != "median-frequency":
        raise ValueError("--class-weight-power applies to --class-weights median-frequency")
    model, meta = load_unaries(args.model)  # a DeepLab model or TextonBoost
    out = args.out or args.model
    checkpoint = args.checkpoint or os.path.splitext(out)[0] + ".learn-crf.npz"
    remove_stale_temp_files(os.path.dirname(os.path.abspath(out)))  # of killed earlier runs

    folds = None
    if args.folds is not None:
        from .unaries.folds import FoldNets
        from .unaries.sources import is_textonboost

        if args.split != "train":
            raise ValueError(f"--folds applies to --split train (held-out unaries of the training images), "
                             f"not --split {args.split}")
        if is_textonboost(model):
            raise ValueError("--folds replaces a DeepLab model's unaries on its training images; "
                             f"{args.model} is a TextonBoost model")
        folds = FoldNets(args.folds, like=model, name="--folds")
        print(f"learning on the unaries of {len(folds)} fold nets ({args.folds}), picking on the model's")

    def samples(split, limit=0, half=None, folds=None):  # folds: FoldNets scoring the images instead
        ds = MSRC(args.data, split)
        if half is not None:  # every other image, from position `half`
            ds.names = ds.names[half::2]
        if limit:
            ds.names = ds.names[:limit]
        from tqdm.auto import tqdm

        rows = []
        for i in tqdm(range(len(ds)), desc=f"unaries ({split})", disable=args.quiet, leave=False):
            image, label = ds[i]
            probs = unary_probs(model, image) if folds is None else folds.probs(i, image)
            rows.append((image, probs.astype(np.float16), label))
        return rows

    if args.split == "val-half":  # held-out unaries on both sides: learn on val 0, 2, 4, ..., pick on 1, 3, 5, ...
        train, val = samples("val", args.limit, half=0), samples("val", args.val_limit, half=1)
    else:
        train, val = samples(args.split, args.limit, folds=folds), samples("val", args.val_limit)
    start = {k: v for k, v in (meta.get("dense_crf") or {}).items() if k != "n_iter"}
    weights = None
    if args.class_weights == "median-frequency":
        from .datasets.balance import median_frequency_weights

        weights = median_frequency_weights([row[2] for row in train], model.num_classes,
                                           absent=1.0) ** args.class_weight_power
    res = learn(train, model.num_classes, val=val, steps=args.steps, crop=args.crop, lr=args.lr, n_iter=args.n_iter,
                init=start, val_every=args.val_every, metric=args.metric, seed=args.seed, checkpoint=checkpoint,
                resume=args.resume, progress=not args.quiet, class_weights=weights, potts_prior=args.potts_prior,
                fixed=("w_bilateral", "w_gaussian") if args.keep_weights else (), loss=args.loss.replace("-", "_"),
                average=args.average, batch=args.batch, learn_bias=args.learn_bias, per_kernel=args.per_kernel,
                data_id=f"{args.split} (limit {args.limit}), val (limit {args.val_limit})"
                        + (f", folds {os.path.abspath(args.folds)}" if args.folds else ""))
    print(f"learned CRF: {args.metric} on val {100 * res['score']:.2f} at step {res['step']}, "
          f"n_iter {res['params']['n_iter']}, w_bilateral {res['params']['w_bilateral']:.3f}, "
          f"w_gaussian {res['params']['w_gaussian']:.3f}")
    meta = {k: v for k, v in meta.items()
            if k not in ("variant", "num_classes", "width", "dropout", "input_scale", "test_flip")}
    meta["learned_crf"] = {"params": res["params"], "score": res["score"], "metric": args.metric, "step": res["step"],
                           "steps": args.steps, "crop": args.crop, "lr": args.lr, "split": args.split,
                           "class_weights": args.class_weights, "class_weight_power": args.class_weight_power,
                           "potts_prior": args.potts_prior, "loss": args.loss,
                           "average": args.average, "batch": args.batch,
                           "keep_weights": args.keep_weights, "learn_bias": args.learn_bias,
                           "per_kernel": args.per_kernel, "folds": args.folds,
                           "history": res["history"]}
    save_unaries(out, model, meta)
    print(f"wrote the learned CRF into {out} (state: {checkpoint})")
    return 0


CRF_OPTIONS = {
    "dense": ("n_iter", "w_bilateral", "theta_alpha", "theta_beta", "w_gaussian", "theta_gamma"),
    "grid": ("n_iter", "connectivity", "w_smooth", "w_contrast", "beta"),
}
"""The CRF parameters the ``crf`` command passes on, by method (option ``--w-bilateral`` -> ``w_bilateral``)."""


def crf(args):
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


def train_unaries(args):
    from .datasets import MSRC
    from .metrics import confusion_matrix, summarize
    from .unaries import TextonBoost

    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("train-unaries needs scikit-learn: pip install minideeplab[textonboost]", file=sys.stderr)
        return 2
    ds = MSRC(args.data, args.split)
    if args.limit:
        ds.names = ds.names[:: max(1, len(ds.names) // args.limit)][: args.limit]
    t = time.perf_counter()
    tb = TextonBoost.fit(ds, num_classes=21, k=args.k, n_layout=args.n_layout, sample_stride=args.sample_stride,
                         max_iter=args.max_iter, learning_rate=args.learning_rate, seed=args.seed,
                         progress=not args.quiet)
    print(f"trained on {len(ds)} images ({tb.params['n_samples']:,} pixels, {tb.num_features} features) "
          f"in {time.perf_counter() - t:.0f} s")
    tb.save(args.out)
    print(f"wrote {args.out}")
    if args.split == "train":  # the validation subset is not in the training images: score it
        from tqdm.auto import tqdm

        val = MSRC(args.data, "val")
        if args.val_limit:
            val.names = val.names[: args.val_limit]
        conf = np.zeros((21, 21), np.int64)
        for i in tqdm(range(len(val)), desc="val", disable=args.quiet, leave=False):
            image, label = val[i]
            confusion_matrix(label, tb.predict_proba(image).argmax(0), 21, out=conf)
        s = summarize(conf)
        print(f"val ({len(val)} images): global {100 * s['global_acc']:.1f}, class-average "
              f"{100 * s['class_avg_acc']:.1f}, mIoU {100 * s['mean_iou']:.1f}")
    return 0
