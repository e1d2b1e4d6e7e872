"""Generate the notebooks from the lesson sources.

    python lessons/build.py          # write notebooks/NN_name.ipynb and notebooks/exercises/NN_name.ipynb
    python lessons/build.py --check  # exit 1 if a committed notebook differs from its source

``lessons/NN_name.py`` (jupytext ``py:percent``) is the reviewed source. The notebooks
carry no outputs and are never edited by hand. In the exercise version, every cell tagged
``solution`` has its code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (or, without
markers, all but its leading comments) replaced by a TODO; the untagged cell after it holds
the check the student's code must pass.
"""
from __future__ import annotations

import copy
import glob
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NOTEBOOKS = os.path.join(ROOT, "notebooks")
STUB = ["# TODO: your code here", 'raise NotImplementedError("write this cell, then run the check below")']


def lesson_sources():
    return sorted(glob.glob(os.path.join(HERE, "[0-9][0-9]_*.py")))


def _clean(nb):
    import nbformat

    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("lines_to_next_cell", None)
    return nb


def notebook(path):
    """The lesson as a notebook without outputs."""
    import jupytext

    return _clean(jupytext.read(path, fmt="py:percent"))


def _stub(source):
    lines = source.splitlines()
    if "# BEGIN SOLUTION" in source:
        out, skipping = [], False
        for line in lines:
            if line.strip() == "# BEGIN SOLUTION":
                indent = line[: len(line) - len(line.lstrip())]
                out += [indent + s for s in STUB]
                skipping = True
            elif line.strip() == "# END SOLUTION":
                skipping = False
            elif not skipping:
                out.append(line)
        return "\n".join(out)
    head = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            head.append(line)
        else:
            break
    return "\n".join(head + STUB)


def exercise(nb):
    """The exercise version: solution cells replaced by TODO stubs, links to the repository's
    files (``../README.md``) made one folder deeper (the exercises live in ``notebooks/exercises/``)."""
    ex = copy.deepcopy(nb)
    n = 0
    for cell in ex.cells:
        if cell.cell_type == "markdown":  # one folder deeper: links to the repository's files
            cell.source = cell.source.replace("](../", "](../../")
        if "solution" in cell.metadata.get("tags", []):
            cell.source = _stub(cell.source)
            n += 1
    if n == 0:
        raise ValueError("a lesson needs at least one cell tagged 'solution'")
    return ex


def render(nb):
    import nbformat

    return nbformat.writes(nb) + "\n"


def targets(src):
    name = os.path.splitext(os.path.basename(src))[0] + ".ipynb"
    nb = notebook(src)
    return {os.path.join(NOTEBOOKS, name): render(nb),
            os.path.join(NOTEBOOKS, "exercises", name): render(exercise(nb))}


def _atomic_write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = []
    for src in lesson_sources():
        for path, text in targets(src).items():
            current = open(path).read() if os.path.exists(path) else None
            if current != text:
                stale.append(os.path.relpath(path, ROOT))
                if not check:
                    _atomic_write(path, text)
    if check and stale:
        print("out of date (run python lessons/build.py):\n  " + "\n  ".join(stale))
        return 1
    print(("checked" if check else "built") + f" {len(lesson_sources())} lessons" + (f", wrote {len(stale)}" if stale and not check else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
