"""The command line's old spellings, accepted for one release with a warning on stderr.

The command line speaks one language: the MSRC folder is ``--data``, an architecture
``--arch``, a weights file ``--model``, output ``--out`` (``-o`` for one output file).
Each action here maps an old spelling onto the new option's destination and prints one
line, e.g. ``minideeplab: warning: --root is deprecated, use --data``.
"""
from __future__ import annotations

import argparse
import os
import sys


def warn_deprecated(old, new):
    print(f"minideeplab: warning: {old} is deprecated, use {new}", file=sys.stderr)


class Renamed(argparse.Action):
    """An old option name: ``add_argument("--root", dest="data", action=Renamed, new="--data")``."""

    def __init__(self, option_strings, dest, new, **kwargs):
        self.new = new
        kwargs.setdefault("help", f"deprecated: use {new}")
        kwargs.setdefault("default", argparse.SUPPRESS)  # leaves the new option's default alone
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        warn_deprecated(option_string, self.new)
        setattr(namespace, self.dest, values)


class RenamedPositional(argparse.Action):
    """An old optional positional argument of ``command``, now the option ``new`` (stored
    in ``dest_new``): ``info ARCH`` -> ``info --arch ARCH``."""

    def __init__(self, option_strings, dest, command, new, dest_new, **kwargs):
        self.command, self.new, self.dest_new = command, new, dest_new
        kwargs.setdefault("help", f"deprecated: use {new}")
        kwargs.setdefault("nargs", "?")
        kwargs.setdefault("default", None)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values is not None:
            warn_deprecated(f"{self.command} {values}", f"{self.command} {self.new} {values}")
            setattr(namespace, self.dest_new, values)


class TrainData(argparse.Action):
    """``train --data``: the MSRC folder; the old ``--data synthetic|msrc`` (a dataset kind,
    when no folder of that name exists) still works and means ``--dataset``."""

    KINDS = ("synthetic", "msrc")

    def __call__(self, parser, namespace, values, option_string=None):
        if values in self.KINDS and not os.path.isdir(values):
            warn_deprecated(f"--data {values}", f"--dataset {values}")
            namespace.dataset = values
        else:
            namespace.data = values


class TrainArch(argparse.Action):
    """``train --model ARCH`` of earlier versions: now ``--arch`` (``--model`` is a weights file)."""

    def __init__(self, option_strings, dest, arch_choices, **kwargs):
        self.arch_choices = list(arch_choices)
        kwargs.setdefault("help", "deprecated: use --arch")
        kwargs.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if values not in self.arch_choices:
            parser.error(f"--model: in train the architecture is --arch ({', '.join(self.arch_choices)}); "
                         f"start from a weights file with --init-from, got {values!r}")
        warn_deprecated("train --model ARCH", "--arch ARCH")
        namespace.arch = values
