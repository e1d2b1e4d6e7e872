"""Lesson 16 quotes the recorded weak-supervision runs: its numbers are those of
``benchmarks/weak_results.json`` (what ``benchmarks/weak_training.py`` measured), rounded as printed."""
import ast
import json
import os

ROOT = os.path.join(os.path.dirname(__file__), "..")


def lesson_constants(*names):
    with open(os.path.join(ROOT, "lessons", "16_weak_supervision.py")) as f:
        tree = ast.parse(f.read())
    found = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names}
    assert set(found) == set(names), f"lesson 16 no longer defines {set(names) - set(found)}"
    return found


def records():
    with open(os.path.join(ROOT, "benchmarks", "weak_results.json")) as f:
        return json.load(f)["runs"]


def longest(runs, **match):
    """The record with the longest schedule among those matching (strong_per_batch 0: batches drawn at random;
    seed 0: the lesson quotes the first draw of each recipe, other seeds size the noise)."""
    rs = [r for r in runs if all(r.get(k) == v for k, v in match.items()) and not r.get("strong_per_batch")
          and not r.get("seed")]
    assert rs, f"no recorded run with {match}"
    return max(rs, key=lambda r: r.get("total_iterations") or r["iterations"])


def printed(record):
    return round(100 * record["dense_crf"]["global"], 1), round(100 * record["dense_crf"]["miou"], 1)


def test_the_strong_only_vs_semi_curve_is_the_recorded_one():
    c = lesson_constants("CURVE", "CEILING")
    runs = records()
    for supervision, points in c["CURVE"].items():
        for n, quoted in points.items():
            r = longest(runs, protocol="msrc21", supervision=supervision, pixel_labelled_images=n)
            assert printed(r) == tuple(quoted), (supervision, n, r["run"])
    images, glob_acc, miou = c["CEILING"]
    r = longest(runs, protocol="msrc21", supervision="strong")
    assert (r["pixel_labelled_images"],) + printed(r) == (images, glob_acc, miou)


def test_the_voc_style_box_models_are_the_recorded_ones():
    boxes = lesson_constants("BOXES_VOC_STYLE")["BOXES_VOC_STYLE"]
    runs = records()
    for name, quoted in boxes.items():
        r = longest(runs, protocol="voc-style", supervision=name.lower())
        assert printed(r) == tuple(quoted["model"]), (name, r["run"])


def test_the_voc_style_bounds_are_the_recorded_ones():
    bounds = lesson_constants("VOC_STYLE_BOUNDS")["VOC_STYLE_BOUNDS"]
    runs = records()
    for supervision, quoted in bounds.items():
        r = longest(runs, protocol="voc-style", supervision=supervision)
        assert r["total_iterations"] == 6000 and printed(r) == tuple(quoted), (supervision, r["run"])


def test_the_all_classes_models_are_the_recorded_ones():
    msrc = lesson_constants("MSRC")["MSRC"]
    runs = records()
    which = {"strong": dict(supervision="strong"),
             "semi (70 pixel-labelled, EM-Fixed)": dict(supervision="semi", pixel_labelled_images=70),
             "Bbox-Seg": dict(supervision="bbox-seg"), "Bbox-Rect": dict(supervision="bbox-rect"),
             "EM-Adapt (tags only)": dict(supervision="em-adapt")}
    assert set(msrc) == set(which)
    for name, match in which.items():
        r = longest(runs, protocol="msrc21", **match)
        assert r["total_iterations"] == 6000 and printed(r) == tuple(msrc[name]), (name, r["run"])
