"""How much a lesson's checks depend on the one training trajectory it runs: the lesson's
training repeated over seeds and both width-1/8 convolution paths.

    python benchmarks/lesson_seeds.py 7 [--seeds 0 1 2 3 4 5] [--max-channels 0 8] [--threads 2]
        [--set class_weighting=none,max_iter=450]
    python benchmarks/lesson_seeds.py 15 [--seeds ...] [--max-channels ...] [--threads 2]
    python benchmarks/lesson_seeds.py 16 [--seeds ...] [--max-channels ...] [--threads 2]

Each run is its own process with one Numba and one BLAS thread (so its float32 sums are the same
on any machine whose BLAS picks the same kernels), or ``--threads N`` of each (2: the
trajectory of CI's two cores). ``7``: lesson 7's network, scenes and SGD run (``--set`` changes TrainConfig
fields), scored as the lesson scores it; one line per run with class-average accuracy, mean IoU,
the smallest shape-class accuracy and whether the lesson's three checks pass. ``16``: the whole
lesson 16 with ``recipes.synthetic_model`` and ``synthetic_config`` given the seed; its asserts
report instead of raising; one line per run with the EM rounds' objects' share and mean IoU, the
lesson's line on EM-Adapt's shortfall from its fractions, then the checks that failed. ``--max-channels`` sets ``minideeplab.nn.direct.MAX_CHANNELS`` (0: im2col
everywhere; 8: the direct pair on width 1/8's first two layers).
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ONE_THREAD = dict(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def lesson7(seed, changes):
    """Lesson 7's training from model/batch seed ``seed``; its checks' numbers."""
    from minideeplab.datasets import SyntheticScenes
    from minideeplab.metrics import confusion_matrix, summarize
    from minideeplab.models import DeepLab
    from minideeplab.predict import predict_scores
    from minideeplab.train import Trainer, TrainConfig

    kw = dict(objects=(1, 3), radius=(0.2, 0.35))
    train, test = SyntheticScenes(200, (65, 65), 4, seed=0, **kw), SyntheticScenes(12, (65, 65), 4, seed=99, **kw)
    model = DeepLab("DeepLab-LargeFOV", num_classes=4, width=1 / 8, seed=seed, dropout=0.0)
    opts = dict(crop_size=65, batch_size=4, max_iter=900, base_lr=5e-3, lr_policy="poly", seed=seed,
                classifier_lr_mult=1.0, class_weighting="median-frequency")
    for k, v in changes.items():
        opts[k] = type(opts[k])(v) if k in opts else v
    Trainer(model, train, TrainConfig(**opts)).fit(progress=False)
    s = summarize(sum(confusion_matrix(test[i][1], predict_scores(model, test[i][0]).argmax(0), 4)
                      for i in range(len(test))))
    low = s["per_class_acc"][1:].min()
    ok = s["class_avg_acc"] > 0.65 and s["mean_iou"] > 0.55 and low > 0.5
    return (f"class-avg {s['class_avg_acc']:.3f}  mIoU {s['mean_iou']:.3f}  smallest shape class {low:.2f}  "
            f"{'pass' if ok else 'FAIL'}")


def lesson15(seed):
    """Lesson 15's "why more data helps": two nets of the recipe, the same 300 iterations on 4 and
    on 200 scenes, model and batch seed ``seed``; their held-out mean IoU and the gain."""
    from minideeplab.predict import evaluate
    from minideeplab.recipes import synthetic_config, synthetic_model, synthetic_scenes
    from minideeplab.train import Trainer

    held_out, miou = synthetic_scenes(40, train=False), {}
    for n in (4, 200):
        net, config = synthetic_model(seed), synthetic_config(max_iter=300)
        config.seed = seed
        Trainer(net, synthetic_scenes(n), config).fit(progress=False)
        miou[n] = evaluate(net, held_out)["mean_iou"]
    return f"held-out mIoU: 4 scenes {miou[4]:.3f}, 200 scenes {miou[200]:.3f}, gain {miou[200] - miou[4]:+.3f}"


def lesson16(seed):
    """Lesson 16 run whole with the recipe's seed set; its EM rounds and its failed checks."""
    import matplotlib

    matplotlib.use("Agg")
    import minideeplab.recipes as recipes

    model, config = recipes.synthetic_model, recipes.synthetic_config
    recipes.synthetic_model = lambda seed_=0: model(seed=seed)

    def seeded_config(max_iter=1000):
        c = config(max_iter)
        c.seed = seed
        return c

    recipes.synthetic_config = seeded_config
    path = os.path.join(ROOT, "lessons", "16_weak_supervision.py")
    with open(path) as f:
        source = f.read()
    failed = []

    def check(text, test):
        if not test():
            failed.append(text)

    class Report(ast.NodeTransformer):  # assert X  ->  __check("X", lambda: X)
        def visit_Assert(self, node):
            call = ast.parse("__check('', None)").body[0]
            call.value.args = [ast.Constant(ast.unparse(node.test)),
                               ast.Lambda(ast.arguments([], [], None, [], [], None, []), node.test)]
            return ast.copy_location(call, node)

    tree = ast.fix_missing_locations(Report().visit(ast.parse(source)))
    printed = []
    scope = {"__name__": "__main__", "__check": check,
             "print": lambda *a, **k: printed.append(" ".join(map(str, a)))}
    exec(compile(tree, path, "exec"), scope)
    rounds = [line for line in printed if ", round " in line]

    def series(name, what):
        return [float(re.search(what + r" ([\d.]+)", line).group(1)) for line in rounds if line.startswith(name)]

    line = "  ".join(f"{name}: share {series(name, 'share of the pixels')} mIoU {series(name, 'mean IoU')}"
                     for name in ("EM-Fixed", "EM-Adapt"))
    line += "".join(f"\n    {text}" for text in printed if "shortfall" in text)
    return line + "".join(f"\n    FAILED {text[:120]}" for text in failed)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("lesson", type=int, choices=(7, 15, 16))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--max-channels", type=int, nargs="+", default=[0, 8])
    p.add_argument("--set", default="", help="lesson 7: TrainConfig changes, k=v,k=v")
    p.add_argument("--threads", type=int, default=1, help="Numba and BLAS threads per run (default 1)")
    p.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)  # a single run, in this process
    a = p.parse_args()
    if a.one:
        from minideeplab.nn import direct

        seed, direct.MAX_CHANNELS = a.one
        changes = dict(part.split("=") for part in a.set.split(",") if part)
        run = {7: lambda: lesson7(seed, changes), 15: lambda: lesson15(seed), 16: lambda: lesson16(seed)}[a.lesson]
        print(run(), flush=True)
        return
    for seed in a.seeds:
        for mc in a.max_channels:
            done = subprocess.run([sys.executable, __file__, str(a.lesson), "--set", a.set, "--one", str(seed), str(mc)],
                                  env={**os.environ, **{k: str(a.threads) for k in ONE_THREAD}}, cwd=ROOT, capture_output=True, text=True)
            text = done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()[-300:]}"
            print(f"lesson {a.lesson}  seed {seed}  MAX_CHANNELS {mc}  threads {a.threads}  "
                  f"{a.set or '(as in the lesson)'}: {text}", flush=True)


if __name__ == "__main__":
    main()
