"""The VOC-style protocol on MSRC: stuff merged into background, objects renumbered, boxes
around objects only."""
import numpy as np
import pytest
from conftest import MSRC_DIR, needs_msrc

from minideeplab.datasets.msrc import CLASSES
from minideeplab.datasets.voc_style import OBJECTS, STUFF, VOC_STYLE_CLASSES, VOCStyle, to_voc_style, voc_style_palette
from minideeplab.weak import BoxTargets, bbox_rect, boxes_from_labels


def test_every_class_by_name():
    assert len(STUFF) == 6 and len(OBJECTS) == 15 and VOC_STYLE_CLASSES[0] == "background"
    label = np.array([list(range(21)) + [255]])
    got = to_voc_style(label)[0]
    for i, name in enumerate(CLASSES):     # by name, not by the table under test
        want = 0 if name in ("building", "grass", "tree", "sky", "water", "road") else VOC_STYLE_CLASSES.index(name)
        assert got[i] == want, name
    assert got[21] == 255 and got.dtype == np.uint8
    assert sorted(set(got[:21].tolist())) == list(range(16))


def test_palette_keeps_the_object_colours():
    from minideeplab.datasets.msrc import palette21

    pal = voc_style_palette()
    assert pal.shape == (16, 3) and pal.dtype == np.uint8 and pal[0].tolist() == [0, 0, 0]
    assert pal[VOC_STYLE_CLASSES.index("cow")].tolist() == palette21()[CLASSES.index("cow")].tolist()


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2), np.float32),
                                 np.full((2, 2), 21), np.full((2, 2), -1)])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError, match="label"):
        to_voc_style(bad)


def test_boxes_go_around_objects_only():
    """A cow on grass under sky: one box, the cow's; Bbox-Rect fills it, the rest is background."""
    label = np.full((20, 30), CLASSES.index("grass"), np.uint8)
    label[:6] = CLASSES.index("sky")
    label[8:14, 10:19] = CLASSES.index("cow")
    label[0, 0] = 255
    voc = to_voc_style(label)
    cow = VOC_STYLE_CLASSES.index("cow")
    boxes = [b for b in boxes_from_labels(voc, 16) if b[0] != 0]
    assert boxes == [(cow, 8, 10, 14, 19)]
    rect = bbox_rect(voc.shape, boxes, background=0)
    assert (rect == cow).sum() == 6 * 9 and (rect == 0).sum() == 20 * 30 - 54


class _Tiny:
    num_classes = 21
    names = ("a",)

    def __init__(self, label):
        self.label = label

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return np.zeros(self.label.shape + (3,), np.uint8), self.label


def test_box_targets_in_the_protocol():
    label = np.full((20, 30), CLASSES.index("road"), np.uint8)
    label[2:9, 3:12] = CLASSES.index("car")
    ds = VOCStyle(_Tiny(label))
    assert ds.names == ("a",) and ds.num_classes == 16
    target = BoxTargets(ds, "bbox-rect", 16, background=0)[0][1]
    want = np.zeros((20, 30), np.uint8)
    want[2:9, 3:12] = VOC_STYLE_CLASSES.index("car")
    np.testing.assert_array_equal(target, want)
    with pytest.raises(ValueError, match="21-class"):
        VOCStyle(ds)


@needs_msrc
def test_msrc_in_the_protocol():
    from minideeplab.datasets import MSRC

    ds = MSRC(MSRC_DIR, "train")
    v = VOCStyle(ds)
    assert len(v) == len(ds) == 279
    for i in (0, 140):
        (im, lab), (im2, lab21) = v[i], ds[i]
        np.testing.assert_array_equal(im, im2)
        stuff = np.isin(lab21, [CLASSES.index(c) for c in STUFF])
        obj = ~stuff & (lab21 != 255)
        assert np.all(lab[stuff] == 0) and np.all(lab[lab21 == 255] == 255) and obj.any()
        assert np.all(np.array(VOC_STYLE_CLASSES)[lab[obj]] == np.array(CLASSES)[lab21[obj]])


@needs_msrc
def test_train_and_compare_in_the_protocol(tmp_path, capsys):
    import json

    from minideeplab.cli import main
    from minideeplab.models import load_model

    out = tmp_path / "run"
    assert main(["train", "--data", MSRC_DIR, "--protocol", "voc-style", "--supervision", "bbox-rect",
                 "--width", "0.0625", "--crop", "65", "--batch-size", "1", "--max-iter", "2", "--input-scale", "0.5",
                 "--val-every", "2", "--quiet", "--out", str(out)]) == 0
    model, meta = load_model(out / "model.npz")
    assert model.num_classes == 16 and meta["protocol"] == "voc-style"
    assert meta["class_names"] == list(VOC_STYLE_CLASSES) and meta["palette"] == voc_style_palette().tolist()
    assert main(["compare-crf", "--data", MSRC_DIR, "--model", str(out / "model.npz"), "--out", str(tmp_path / "cmp"),
                 "--limit", "2", "--quiet"]) == 0
    res = json.loads((tmp_path / "cmp" / "results.json").read_text())
    from minideeplab.datasets import MSRC

    ds = VOCStyle(MSRC(MSRC_DIR, "test"))   # the scores count pixels of the 16 VOC-style classes
    counts = sum(np.bincount(ds[i][1][ds[i][1] != 255].ravel(), minlength=16) for i in range(2))
    assert res["rows"][0]["per_class_pixels"] == counts.tolist()
    assert "| background |" in capsys.readouterr().out
    assert main(["train", "--protocol", "voc-style", "--max-iter", "1", "--out", str(tmp_path / "s")]) == 2
