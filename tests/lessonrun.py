"""Run a lesson as CI does, optionally with a prelude cell that breaks a concept first.

``assert_checks_catch(lesson, prelude)`` is how a "break the concept" test reads: the prelude
(Python run in the lesson's kernel before its first cell, e.g. a monkeypatch that makes
``nn.im2col`` ignore dilation) must make one of the lesson's own ``assert`` cells fail. Any
other error (a NameError, a crash in the patched code) does not count: the test then fails,
since it shows nothing about the lesson's checks.
"""
import importlib.util
import os
import textwrap

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


WIDGETS_STUB = textwrap.dedent('''\
    def _stub_ipywidgets():
        import inspect, sys, types

        class Slider:
            def __init__(self, value=0, **kwargs):
                self.value = value

        def start(fn, name, slider):
            """A slider's starting value: its ``value``; for an abbreviation (a (min, max[, step])
            tuple), the function's default for that argument, else the middle, as ipywidgets."""
            if hasattr(slider, "value"):
                return slider.value
            if isinstance(slider, tuple):
                default = inspect.signature(fn).parameters[name].default
                if default is not inspect.Parameter.empty:
                    return default
                lo, hi = slider[:2]
                return (lo + hi) // 2 if isinstance(lo, int) and isinstance(hi, int) else (lo + hi) / 2
            return slider

        def interact(fn, **sliders):
            """Call fn once with the sliders' starting values, as a frontend first draws it."""
            return fn(**{k: start(fn, k, v) for k, v in sliders.items()})

        def __getattr__(name):
            if name.endswith("Slider"):
                return Slider
            raise AttributeError(name)

        stub = types.ModuleType("ipywidgets")
        stub.interact, stub.__getattr__ = interact, __getattr__
        sys.modules["ipywidgets"] = stub

    _stub_ipywidgets()
    del _stub_ipywidgets
''')
"""The kernel's ``ipywidgets``, replaced before a lesson runs: ``interact`` calls the function
once with each slider's starting value, without widget messages. With the real package, nbclient
(0.11, ipykernel 7.4) sometimes waits for the whole cell timeout after an ``interact`` cell that
draws into its output widget, then goes on: lesson 13's slider cell took 600.0 s with a 600 s
timeout (and 300+ s in CI), the same cell 0.1 s without widgets. The stub runs the same code
path (the import, the call, the drawing function) deterministically."""


CELL_TIMEOUT = 600
"""Seconds one cell may run: a guard against a hung kernel, not a speed check (speed is measured
in ``benchmarks/``). Lesson 7's 800-iteration training cell took over 300 s, the old limit, on
a 2-core machine busy with other work."""


def run_lesson(name, tmp_path, prelude=None, timeout=CELL_TIMEOUT):
    """Execute lesson ``name`` (its solution) in a fresh kernel in ``tmp_path``, with
    :data:`WIDGETS_STUB` and then ``prelude`` run before its first cell."""
    from nbclient import NotebookClient

    nb = build.notebook(lesson_path(name))
    cells = [WIDGETS_STUB] + ([prelude] if prelude else [])
    nb.cells[:0] = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def assert_checks_catch(name, tmp_path, prelude, timeout=CELL_TIMEOUT):
    """The lesson's own asserts fail once ``prelude`` has broken the concept."""
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError) as err:
        run_lesson(name, tmp_path, prelude, timeout)
    assert err.value.ename == "AssertionError", f"{name}: broke with {err.value.ename}, not a lesson check:\n{err.value}"
    return err.value
