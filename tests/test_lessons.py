"""The notebooks match their lesson sources, and every lesson runs to the end."""
import glob
import importlib.util
import os
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("lesson_build", os.path.join(ROOT, "lessons", "build.py"))
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
LESSONS = build.lesson_sources()
IDS = [os.path.basename(p)[:-3] for p in LESSONS]


def test_there_are_lessons():
    assert len(LESSONS) >= 1


@pytest.mark.parametrize("src", LESSONS, ids=IDS)
def test_notebooks_match_sources(src):
    for path, text in build.targets(src).items():
        assert os.path.exists(path), f"{path} missing: run python lessons/build.py"
        assert open(path).read() == text, f"{path} differs from {src}: run python lessons/build.py"


@pytest.mark.parametrize("src", LESSONS, ids=IDS)
def test_exercise_has_stubs_and_keeps_the_checks(src):
    nb = build.notebook(src)
    ex = build.exercise(nb)
    tagged = [i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", [])]
    assert tagged
    for i in tagged:
        assert "NotImplementedError" in ex.cells[i].source
        assert ex.cells[i].source != nb.cells[i].source
        assert i + 1 < len(nb.cells) and "assert" in nb.cells[i + 1].source, "a check must follow each solution"
        assert ex.cells[i + 1].source == nb.cells[i + 1].source


def test_local_links_resolve_from_each_notebook():
    """Markdown links and images to the repository's files (e.g. a figure in benchmarks/) open
    from the notebook's own folder, in notebooks/ and in notebooks/exercises/."""
    import re

    import nbformat

    seen = 0
    for path in glob.glob(os.path.join(ROOT, "notebooks", "**", "*.ipynb"), recursive=True):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)#\s]+)\)", cell.source):
                if "://" in target or target.endswith(".ipynb"):
                    continue
                seen += 1
                assert os.path.exists(os.path.join(os.path.dirname(path), target)), f"{path}: {target}"
    assert seen >= 2  # lesson 14's figure, in both versions


def test_notebooks_have_no_outputs():
    for path in glob.glob(os.path.join(ROOT, "notebooks", "**", "*.ipynb"), recursive=True):
        import nbformat

        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


@pytest.mark.slow
@pytest.mark.parametrize("src", LESSONS, ids=IDS)
def test_lesson_runs(src, tmp_path):
    """Execute the lesson (the exercise's solution) in a fresh kernel, offline (sliders drawn
    once at their starting values: see ``lessonrun.WIDGETS_STUB``)."""
    from lessonrun import run_lesson

    t = time.perf_counter()
    nb = run_lesson(os.path.basename(src)[:-3], tmp_path)
    for cell in nb.cells[1:]:  # after the stub
        if cell.cell_type == "code" and "interact(" in cell.source:  # the slider drew its figure
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source
    print(f"{os.path.basename(src)}: {time.perf_counter() - t:.1f} s")
