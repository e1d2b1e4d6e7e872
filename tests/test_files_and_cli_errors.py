"""Bad files and bad paths: one error type for the API, one line and exit status 2 for the command line.

Every reader (model files, checkpoints, images, MSRC annotations, VGG state dicts, downloads)
raises ``minideeplab.FileFormatError`` naming the file; ``python -m minideeplab`` prints a single
``minideeplab: error: ...`` line for it, with no traceback and no file left behind.
"""
import http.server
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

import minideeplab
from minideeplab import FileFormatError
from minideeplab._io import atomic_write_bytes, read_image, read_npz, read_npz_meta, remove_stale_temp_files
from minideeplab.datasets import SyntheticScenes
from minideeplab.datasets.download import download
from minideeplab.datasets.msrc import labels_from_bmp, labels_from_mat
from minideeplab.models import DeepLab, load_model, load_vgg16, read_state_dict, save_model
from minideeplab.train import Trainer, TrainConfig, read_checkpoint_meta

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH, CLASSES, WIDTH = "DeepLab-LargeFOV", 3, 1 / 16


def tiny_model(seed=0):
    return DeepLab(ARCH, CLASSES, width=WIDTH, seed=seed)


def png_bytes(h=16, w=16):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def png_header(width, height):
    """A PNG that declares ``width x height`` pixels and holds none (a decompression-bomb header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def npz_bytes(arrays, meta=None, raw_meta=None):
    buf = io.BytesIO()
    if meta is not None:
        raw_meta = json.dumps(meta).encode()
    if raw_meta is not None:
        arrays = dict(arrays, __meta__=np.frombuffer(raw_meta, np.uint8))
    np.savez(buf, **arrays)
    return buf.getvalue()


def make_trainer(out_dir=None, optimizer="sgd"):
    ds = SyntheticScenes(2, (33, 33), CLASSES, seed=0)
    cfg = TrainConfig(crop_size=33, batch_size=1, max_iter=1, optimizer=optimizer)
    return Trainer(tiny_model(), ds, cfg, out_dir=out_dir)


# ----------------------------------------------------------------------------- the error type
def test_file_format_error_is_a_value_error_that_names_the_file():
    err = FileFormatError("runs/m.npz", "the file is empty")
    assert isinstance(err, ValueError) and minideeplab.FileFormatError is FileFormatError
    assert str(err) == "runs/m.npz: the file is empty"
    assert (err.path, err.problem) == ("runs/m.npz", "the file is empty")
    back = pickle.loads(pickle.dumps(err))  # crosses process pools intact
    assert str(back) == str(err) and back.path == err.path


# ----------------------------------------------------------------------------- a table of corrupt files
@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    """name -> path of a corrupt (or, for some readers, valid) file; each name's bytes also as .pth."""
    folder = tmp_path_factory.mktemp("corrupt")
    m = tiny_model()
    save_model(folder / "model.npz", m)
    good = (folder / "model.npz").read_bytes()
    trainer = make_trainer()
    trainer.save_checkpoint(folder / "ckpt.npz")
    ckpt_arrays, ckpt_meta = read_npz(folder / "ckpt.npz")
    model_meta = read_npz_meta(folder / "model.npz")
    wrong = {k: v for k, v in m.params.items()}
    wrong["conv1_1.weight"] = np.zeros((1, 3, 3, 3))
    ckpt_wrong = dict(ckpt_arrays)
    ckpt_wrong["param/fc8.bias"] = np.zeros(CLASSES + 1)
    nan = dict(m.params)
    nan["fc8.bias"] = np.full(CLASSES, np.nan)
    contents = {
        "empty": b"",
        **{f"cut{n}": good[:n] for n in (1, 4, 30, 200, len(good) // 2, len(good) - 1)},
        "random": np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes(),
        "zip_magic_then_random": b"PK\x03\x04" + np.random.default_rng(2).integers(0, 256, 500, np.uint8).tobytes(),
        "png": png_bytes(),
        "png_cut": png_bytes()[:100],
        "text": b"variant: DeepLab-LargeFOV\nwidth: 0.0625\n",
        "npy": (lambda b: (np.save(b, np.zeros(3)), b.getvalue())[1])(io.BytesIO()),
        "npz_other_keys": npz_bytes({"a": np.zeros(3)}),
        "npz_bad_json": npz_bytes({"a": np.zeros(3)}, raw_meta=b"{not json"),
        "npz_json_list": npz_bytes({"a": np.zeros(3)}, raw_meta=b"[1, 2]"),
        "model_wrong_shapes": npz_bytes(wrong, model_meta),
        "model_nan": npz_bytes(nan, model_meta),
        "model_bad_variant": npz_bytes(m.params, dict(model_meta, variant="DeepLab-XL")),
        "ckpt_wrong_shapes": npz_bytes(ckpt_wrong, ckpt_meta),
        "ckpt_bad_rng": npz_bytes(ckpt_arrays, dict(ckpt_meta, rng={"bit_generator": "nope"})),
    }
    paths = {}
    for name, data in contents.items():
        for ext in (".npz", ".pth"):
            (folder / (name + ext)).write_bytes(data)
        paths[name] = folder / (name + ".npz")
    return paths


VALID_NPZ = {"npz_other_keys", "model_wrong_shapes", "model_nan", "model_bad_variant", "ckpt_wrong_shapes",
             "ckpt_bad_rng"}
# (reader, case) pairs that must succeed: the file is what that reader reads
VALID = ({("read_npz", c) for c in VALID_NPZ} | {("read_state_dict", c) for c in VALID_NPZ}
         | {("read_image", "png"), ("labels_from_bmp", "png"), ("Model.load", "model_bad_variant"),
            ("read_checkpoint_meta", "ckpt_wrong_shapes"), ("read_checkpoint_meta", "ckpt_bad_rng")})


def readers():
    trainer = make_trainer()
    return trainer, {
        "read_npz": read_npz,
        "load_model": load_model,
        "Model.load": lambda p: tiny_model().load(p),
        "Trainer.load_checkpoint": trainer.load_checkpoint,
        "read_checkpoint_meta": read_checkpoint_meta,
        "read_image": read_image,
        "labels_from_mat": labels_from_mat,
        "labels_from_bmp": labels_from_bmp,
        "read_state_dict": read_state_dict,
        "load_vgg16": lambda p: load_vgg16(tiny_model(), p),
    }


def test_every_reader_raises_file_format_error_naming_the_file(corrupt):
    trainer, table = readers()
    before = {k: v.copy() for k, v in trainer.model.params.items()}
    failures = []
    for reader, read in table.items():
        for case, path in corrupt.items():
            try:
                read(path)
            except FileFormatError as exc:
                if (reader, case) in VALID or str(path) not in str(exc):
                    failures.append(f"{reader}({case}): {exc}")
            except Exception as exc:  # anything else is what this test exists to catch
                failures.append(f"{reader}({case}): {type(exc).__name__}: {exc}")
            else:
                if (reader, case) not in VALID:
                    failures.append(f"{reader}({case}): no error")
    assert not failures, "\n".join(failures)
    # a failed load_checkpoint leaves the trainer as it was
    assert trainer.iteration == 0 and all(np.array_equal(before[k], v) for k, v in trainer.model.params.items())


def test_pth_files_are_read_with_weights_only_and_corrupt_ones_named(corrupt, tmp_path):
    torch = pytest.importorskip("torch")
    for case, path in corrupt.items():
        pth = path.with_suffix(".pth")
        with pytest.raises(FileFormatError) as info:
            read_state_dict(pth)
        assert str(pth) in str(info.value), case

    class Payload:  # unpickling this would create a file
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    torch.save({"features.0.weight": torch.zeros(1), "x": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(FileFormatError, match=r"evil\.pth: refused: its pickle holds more than tensors"):
        read_state_dict(tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()
    torch.save({"state_dict": {"a": torch.zeros(1)}}, tmp_path / "nested.pth")
    with pytest.raises(FileFormatError, match="not a state dict .*'state_dict' entry"):
        read_state_dict(tmp_path / "nested.pth")


# ----------------------------------------------------------------------------- the reported examples
def test_truncated_and_empty_npz_name_the_file(tmp_path):
    save_model(tmp_path / "m.npz", tiny_model())
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    for read in (load_model, read_checkpoint_meta, tiny_model().load, make_trainer().load_checkpoint):
        with pytest.raises(FileFormatError, match=r"cut\.npz: a truncated or damaged \.npz archive"):
            read(tmp_path / "cut.npz")
        with pytest.raises(FileFormatError, match=r"empty\.npz: the file is empty"):
            read(tmp_path / "empty.npz")


def test_a_model_path_that_is_a_png_says_so(tmp_path):
    (tmp_path / "photo.png").write_bytes(png_bytes())
    with pytest.raises(FileFormatError, match=r"photo\.png: not an \.npz archive: .*a PNG image") as info:
        load_model(tmp_path / "photo.png")
    assert "pickle" not in str(info.value)


def test_images_that_cannot_be_read(tmp_path):
    cases = {"notes.txt": (b"hello", "not an image in a format PIL reads"),
             "empty.png": (b"", "the file is empty"),
             "cut.png": (png_bytes(64, 64)[:200], "a truncated or damaged PNG image"),
             "head.png": (png_bytes()[:40], "a truncated or damaged PNG image"),
             "bomb.png": (png_header(30000, 30000), "decompression bomb"),
             "big.png": (png_header(12000, 12000), "decompression bomb")}  # PIL only warns at this size
    for name, (data, problem) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FileFormatError, match=problem) as info:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(IsADirectoryError):
        read_image(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "nope.png")
    (tmp_path / "ok.png").write_bytes(png_bytes(5, 7))
    assert read_image(tmp_path / "ok.png").shape == (5, 7, 3)


def test_msrc_annotation_without_newseg(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "1_1_s_GT.mat", {"segments": np.ones((4, 4))})
    with pytest.raises(FileFormatError, match=r"1_1_s_GT\.mat: has no newseg or newlabels"):
        labels_from_mat(tmp_path / "1_1_s_GT.mat")
    savemat(tmp_path / "bad_ids.mat", {"newseg": np.ones((4, 4)), "newlabels": np.array([300])})
    with pytest.raises(FileFormatError, match="MSRC-23 ids"):
        labels_from_mat(tmp_path / "bad_ids.mat")


def test_vgg_state_dict_without_a_bias(tmp_path):
    from minideeplab.models.pretrained import TV_CONV

    state = {f"features.{i}.weight": np.zeros((4, 4 if i else 3, 3, 3)) for i in TV_CONV}
    state.update({f"features.{i}.bias": np.zeros(4) for i in TV_CONV})
    state.update({"classifier.0.weight": np.zeros((8, 4 * 49)), "classifier.0.bias": np.zeros(8),
                  "classifier.3.weight": np.zeros((8, 8)), "classifier.3.bias": np.zeros(8)})
    del state["features.5.bias"]
    np.savez(tmp_path / "vgg.npz", **state)
    with pytest.raises(FileFormatError, match=r"vgg\.npz: .*missing \['features\.5\.bias'\]"):
        load_vgg16(tiny_model(), tmp_path / "vgg.npz")
    with pytest.raises(ValueError, match=r"missing \['features\.5\.bias'\]"):  # a dict: no file to name
        load_vgg16(tiny_model(), state)


def test_resume_with_another_optimizer_is_a_clear_error_and_changes_nothing(tmp_path):
    sgd = make_trainer(tmp_path)
    sgd.fit(progress=False)
    adam = make_trainer(tmp_path, optimizer="adam")
    before = {k: v.copy() for k, v in adam.model.params.items()}
    with pytest.raises(FileFormatError, match="holds the state of optimizer 'sgd' but this run uses 'adam'"):
        adam.resume()
    assert adam.iteration == 0 and all(np.array_equal(before[k], v) for k, v in adam.model.params.items())


def test_load_state_dict_checks_everything_before_copying():
    m = tiny_model()
    state = {k: v + 1 for k, v in m.params.items()}
    state["fc8.bias"] = np.full(CLASSES, np.nan)
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(ValueError, match="fc8.bias: holds NaN"):
        m.load_state_dict(state)
    assert all(np.array_equal(before[k], v) for k, v in m.params.items())


# ----------------------------------------------------------------------------- leftovers
def test_a_new_run_removes_temporaries_of_killed_runs_only(tmp_path):
    old = time.time() - 3600
    stale = tmp_path / ".tmp-abcd1234checkpoint.npz"  # what atomic_write_bytes names its temporaries
    fresh = tmp_path / ".tmp-efgh5678checkpoint.npz"  # a concurrent writer's
    other = tmp_path / ".tmp-mine"                      # not our pattern
    for p in (stale, fresh, other):
        p.write_bytes(b"x")
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    make_trainer(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, other.name])
    os.utime(fresh, (old, old))
    assert remove_stale_temp_files(tmp_path) == [fresh.name]
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_writes_under_a_file_or_onto_a_folder_fail_clearly(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        atomic_write_bytes(tmp_path / "notes.txt" / "out.png", b"")
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        atomic_write_bytes(tmp_path, b"")
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file"):
        make_trainer(tmp_path / "notes.txt" / "run")
    assert os.listdir(tmp_path) == ["notes.txt"]


@pytest.fixture
def html_server():
    """A server that answers every request with an HTML page (a proxy's or a moved site's)."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = b"<!DOCTYPE html><html><body>Moved</body></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/msrc.zip", seen
    httpd.shutdown()


def test_download_does_not_keep_what_is_not_a_zip(html_server, tmp_path):
    url, seen = html_server
    os.makedirs(tmp_path / ".unpack-killed")  # left by a killed earlier call
    old = time.time() - 3600
    os.utime(tmp_path / ".unpack-killed", (old, old))
    for attempt in (1, 2):
        with pytest.raises(FileFormatError) as info:
            download(tmp_path, url, progress=False)
        msg = str(info.value)
        assert str(tmp_path / "msrc.zip") in msg and url in msg and "HTML page" in msg and "not kept" in msg
        assert os.listdir(tmp_path) == [] and len(seen) == attempt  # fetched again, not failed on a kept file
    (tmp_path / "msrc.zip").write_bytes(b"<html>")  # one put there by hand is not deleted, but named
    with pytest.raises(FileFormatError, match="remove .*msrc.zip to download it again"):
        download(tmp_path, url, progress=False)
    assert os.listdir(tmp_path) == ["msrc.zip"]


# ----------------------------------------------------------------------------- the command line
def run_cli(*args, cwd, stdout=subprocess.PIPE, unbuffered=None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if unbuffered is not None:
        env.pop("PYTHONUNBUFFERED", None)
        env.update({"PYTHONUNBUFFERED": "1"} if unbuffered else {})
    return subprocess.run([sys.executable, "-m", "minideeplab", *map(str, args)], cwd=cwd, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_one_line_error(res, *names):
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("minideeplab: error: "), res.stderr
    assert "Traceback" not in res.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    save_model(folder / "m.npz", tiny_model())
    data = (folder / "m.npz").read_bytes()
    (folder / "cut.npz").write_bytes(data[: len(data) // 3])
    (folder / "photo.png").write_bytes(png_bytes())
    return folder


@pytest.mark.parametrize("name, data, problem", [
    ("notes.txt", b"hello\n", "not an image"),
    ("empty.png", b"", "the file is empty"),
    ("cut.png", png_bytes(64, 64)[:300], "truncated or damaged PNG"),
    ("bomb.png", png_header(30000, 30000), "decompression bomb"),
    ("adir", None, "Is a directory"),
])
def test_segment_on_a_file_that_is_not_an_image(inputs, tmp_path, name, data, problem):
    if data is None:
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_bytes(data)
    before = files_under(tmp_path)
    res = run_cli("segment", name, "--model", inputs / "m.npz", "--crf", "none", cwd=tmp_path)
    assert_one_line_error(res, name, problem)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("case", ["output under a file", "model truncated", "model is a png"])
def test_segment_with_a_bad_output_or_model_path(inputs, tmp_path, case):
    (tmp_path / "x.png").write_bytes(png_bytes())
    (tmp_path / "notes.txt").write_text("x")
    args, names = {
        "output under a file": (["-o", "notes.txt/out.png", "--model", inputs / "m.npz"],
                                ["notes.txt", "not a folder"]),
        "model truncated": (["--model", inputs / "cut.npz"], [str(inputs / "cut.npz"), "truncated"]),
        "model is a png": (["--model", inputs / "photo.png"], [str(inputs / "photo.png"), "PNG image"]),
    }[case]
    before = files_under(tmp_path)
    res = run_cli("segment", "x.png", "--crf", "none", *args, cwd=tmp_path)
    assert_one_line_error(res, *names)
    assert files_under(tmp_path) == before


TRAIN = ["train", "--width", "0.0625", "--images", "2", "--size", "33", "--crop", "33", "--batch-size", "1",
         "--max-iter", "1", "--quiet"]


def test_train_resume_from_a_bad_checkpoint(tmp_path):
    ok = run_cli(*TRAIN, "--out", "run", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    good = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    arrays, _ = read_npz(tmp_path / "run" / "checkpoint.npz")
    bad = {"truncated": good[: len(good) // 2], "empty": b"", "no_meta": npz_bytes(arrays)}
    for name, data in bad.items():
        os.makedirs(tmp_path / name)
        (tmp_path / name / "checkpoint.npz").write_bytes(data)
    problems = {"truncated": "truncated or damaged", "empty": "the file is empty", "no_meta": "has no description",
                "run": "holds the state of optimizer 'sgd' but this run uses 'adam'"}
    for name, problem in problems.items():
        before = files_under(tmp_path)
        res = run_cli(*TRAIN, "--out", name, "--resume", "--optimizer", "adam" if name == "run" else "sgd",
                      cwd=tmp_path)
        assert_one_line_error(res, os.path.join(name, "checkpoint.npz"), problem)
        assert files_under(tmp_path) == before, name


@pytest.mark.parametrize("unbuffered", [False, True])  # the error comes at exit, or at the first print
def test_closed_output_pipe_exits_quietly(tmp_path, unbuffered):
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `minideeplab info | head -1` once head has exited
    try:
        res = run_cli("info", cwd=tmp_path, stdout=write_end, unbuffered=unbuffered)
    finally:
        os.close(write_end)
    assert res.returncode == 1 and res.stderr == ""


def test_python_dash_m_is_the_command(tmp_path):
    res = run_cli("info", cwd=tmp_path)
    assert res.returncode == 0 and "output stride 8" in res.stdout and res.stderr == ""
    bad = run_cli("info", "--width", "-1", cwd=tmp_path)
    assert_one_line_error(bad, "width")


def test_traceback_on_request(tmp_path):
    """MINIDEEPLAB_TRACEBACK=1: the one-line error comes with its traceback, for debugging."""
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    env = dict(os.environ, MINIDEEPLAB_TRACEBACK="1")
    proc = subprocess.run([sys.executable, "-m", "minideeplab", "segment", str(bad)], capture_output=True, text=True,
                          env=env)
    assert proc.returncode != 0 and "Traceback (most recent call last)" in proc.stderr and "FileFormatError" in proc.stderr
