"""Run a lesson as CI does, optionally with a prelude cell that breaks a concept first.

``assert_checks_catch(lesson, prelude)`` is how a "break the concept" test reads: the prelude
(Python run in the lesson's kernel before its first cell, e.g. a monkeypatch that makes
``nn.im2col`` ignore dilation) must make one of the lesson's own ``assert`` cells fail. Any
other error (a NameError, a crash in the patched code) does not count: the test then fails,
since it shows nothing about the lesson's checks.
"""
import importlib.util
import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("lesson_build", os.path.join(ROOT, "lessons", "build.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def lesson_path(name):
    """``"05"`` or ``"05_atrous"`` -> the lesson's jupytext source."""
    hits = [p for p in build.lesson_sources() if os.path.basename(p).startswith(name)]
    if len(hits) != 1:
        raise ValueError(f"no single lesson starts with {name!r}: {hits}")
    return hits[0]


def run_lesson(name, tmp_path, prelude=None, timeout=300):
    """Execute lesson ``name`` (its solution) in a fresh kernel in ``tmp_path``."""
    from nbclient import NotebookClient

    nb = build.notebook(lesson_path(name))
    if prelude:
        nb.cells.insert(0, nbformat.v4.new_code_cell(prelude))
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def assert_checks_catch(name, tmp_path, prelude, timeout=300):
    """The lesson's own asserts fail once ``prelude`` has broken the concept."""
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError) as err:
        run_lesson(name, tmp_path, prelude, timeout)
    assert err.value.ename == "AssertionError", f"{name}: broke with {err.value.ename}, not a lesson check:\n{err.value}"
    return err.value
