"""benchmarks/weak_runs.sh: every named run is a command line the CLI accepts, with the options
RESULTS.md says it has."""
import shlex
import subprocess
from pathlib import Path

import pytest

from minideeplab.cli import build_parser

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "weak_runs.sh"


def dry_run(*names):
    """{name: parsed arguments} of `weak_runs.sh --dry-run NAMES`."""
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run", *names], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "OUT": "runs/weak"}, check=True).stdout
    runs = {}
    for line in out.splitlines():
        name, command = line.split("] ", 1)[1].split(": ", 1)
        words = shlex.split(command)
        assert words[:2] == ["minideeplab", "train"]
        args = build_parser().parse_args(words[1:])
        args.words = words
        runs[name] = args
    assert list(runs) == list(names)
    return runs


def test_first_legs_share_the_recipe():
    runs = dry_run("strong_only_35", "full_279", "voc_strong", "bbox_seg", "em_adapt")
    for name, a in runs.items():
        assert (a.width, a.batch_size, a.crop, a.optimizer, a.lr_policy) == (0.25, 8, 129, "adam", "poly")
        assert (a.lr, a.max_iter, a.seed, a.resume, a.init_from) == (1e-3, 3000, 0, True, None)
        assert a.out == f"runs/weak/{name}"
    assert runs["strong_only_35"].strong_images == 35 and runs["full_279"].strong_images is None
    assert runs["voc_strong"].protocol == "voc-style" and runs["full_279"].protocol == "all-classes"
    assert runs["bbox_seg"].supervision == "bbox-seg"
    # EM-Adapt has no pixel labels to count: the later --class-weights none wins
    assert runs["em_adapt"].class_weights == "none" and runs["bbox_seg"].class_weights == "median-frequency"


def test_second_legs_and_semi_start_from_the_first():
    runs = dry_run("voc_em_adapt_c2", "semi_70", "semi_70_spb2", "semi_70_c2")
    a = runs["voc_em_adapt_c2"]
    assert (a.lr, a.max_iter, a.init_from) == (3e-4, 3000, "runs/weak/voc_em_adapt/model.npz")
    assert (a.supervision, a.protocol, a.class_weights) == ("em-adapt", "voc-style", "none")
    s = runs["semi_70"]
    assert (s.supervision, s.strong_images, s.e_step_every, s.lr) == ("semi", 70, 500, 3e-4)
    assert s.init_from == "runs/weak/strong_only_70/model.npz" and s.strong_per_batch in (None, 0)
    assert runs["semi_70_spb2"].strong_per_batch == 2
    c2 = runs["semi_70_c2"]  # one --init-from only: the first leg's model, not strong-only's
    assert c2.init_from == "runs/weak/semi_70/model.npz" and c2.e_step_every == 500
    assert c2.words.count("--init-from") == 1 and c2.words.count("--lr") == 1


def test_an_unknown_name_is_refused():
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", "strong", "nonsense"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown run 'nonsense'" in done.stderr


def test_a_seed_suffix_draws_the_same_recipe_again():
    runs = dry_run("voc_bbox_rect_s1", "voc_bbox_rect_s1_c2", "semi_70_s12", "voc_bbox_rect")
    a, base = runs["voc_bbox_rect_s1"], runs["voc_bbox_rect"]
    assert a.seed == 1 and base.seed == 0 and a.out == "runs/weak/voc_bbox_rect_s1"
    same = {k: v for k, v in vars(a).items() if k not in ("seed", "out", "words")}
    assert same == {k: v for k, v in vars(base).items() if k not in ("seed", "out", "words")}
    c2 = runs["voc_bbox_rect_s1_c2"]
    assert (c2.seed, c2.lr, c2.init_from) == (1, 3e-4, "runs/weak/voc_bbox_rect_s1/model.npz")
    s = runs["semi_70_s12"]  # the seed also draws which images keep their pixel labels: its own start
    assert s.seed == 12 and s.init_from == "runs/weak/strong_only_70_s12/model.npz"
