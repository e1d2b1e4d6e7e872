"""The command line's option names: one language, old spellings for one release (with a warning)."""
import argparse

import pytest

from minideeplab.cli import build_parser

WARNING = "minideeplab: warning: {old} is deprecated, use {new}\n"


def parse(argv, capsys):
    args = build_parser().parse_args(argv)
    return args, capsys.readouterr().err


def test_new_spellings_give_no_warning(tmp_path, capsys):
    args, err = parse(["train", "--dataset", "msrc", "--data", str(tmp_path), "--arch", "DeepLab"], capsys)
    assert (args.dataset, args.data, args.arch, err) == ("msrc", str(tmp_path), "DeepLab", "")
    args, err = parse(["segment", "x.png", "-o", "y.png"], capsys)
    assert (args.out, err) == ("y.png", "")
    args, err = parse(["tune-crf", "--model", "m.npz", "--out", "t.npz"], capsys)
    assert (args.out, err) == ("t.npz", "")
    args, err = parse(["info", "--arch", "DeepLab-4x4"], capsys)
    assert (args.arch, err) == ("DeepLab-4x4", "")


@pytest.mark.parametrize("argv, name, value, old, new", [
    (["train", "--root", "DIR"], "data", "DIR", "--root", "--data"),
    (["train", "--data", "msrc"], "dataset", "msrc", "--data msrc", "--dataset msrc"),
    (["train", "--data", "synthetic"], "dataset", "synthetic", "--data synthetic", "--dataset synthetic"),
    (["train", "--model", "DeepLab-7x7"], "arch", "DeepLab-7x7", "train --model ARCH", "--arch ARCH"),
    (["segment", "x.png", "--output", "y.png"], "out", "y.png", "--output", "-o/--out"),
    (["tune-crf", "--model", "m.npz", "--output", "t.npz"], "out", "t.npz", "--output", "-o/--out"),
    (["info", "DeepLab"], "arch", "DeepLab", "info DeepLab", "info --arch DeepLab"),
])
def test_old_spellings_still_work_with_one_warning_line(argv, name, value, old, new, capsys):
    args, err = parse(argv, capsys)
    assert getattr(args, name) == value
    assert err == WARNING.format(old=old, new=new)


def test_old_train_spelling_in_full(capsys):
    args, err = parse(["train", "--data", "msrc", "--root", "DIR", "--model", "DeepLab"], capsys)
    assert (args.dataset, args.data, args.arch) == ("msrc", "DIR", "DeepLab") and len(err.splitlines()) == 3


def test_train_model_must_name_an_architecture(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "runs/x/model.npz"])
    assert "in train the architecture is --arch" in capsys.readouterr().err


def test_defaults_find_msrc_themselves():
    p = build_parser()
    for argv in (["train"], ["compare-crf"], ["tune-crf", "--model", "m.npz"]):
        assert p.parse_args(argv).data is None  # MSRC(None) looks in $MINIDEEPLAB_MSRC, then ../shared/data/msrc
    assert p.parse_args(["info"]).arch == "DeepLab-LargeFOV" and p.parse_args(["train"]).dataset is None


def test_every_option_has_help_text():
    p = build_parser()
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) == {"demo", "train", "segment", "compare-crf", "tune-crf", "learn-crf", "crf", "info",
                                 "train-unaries"}
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
