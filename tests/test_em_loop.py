"""EM with explicit E-steps: the targets an E-step caches, the alternation in the trainer's
loop, checkpoints that resume it bit-exactly, and the command line."""
import numpy as np
import pytest

from minideeplab.datasets import SyntheticScenes
from minideeplab.models import DeepLab
from minideeplab.predict import predict_scores
from minideeplab.train import Trainer, TrainConfig
from minideeplab.weak import EMTargets, em_adapt, em_fixed, image_tags


def scenes():
    return SyntheticScenes(6, (33, 41), 4, objects=(1, 2), seed=2)


def net():
    return DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)


@pytest.mark.parametrize("method", ["semi", "em-adapt"])
def test_an_e_step_caches_the_method_applied_to_whole_image_scores(method):
    ds, model = scenes(), net()
    em = EMTargets(ds, method, 4, background=0, strong={1} if method == "semi" else ())
    assert np.all(em[0][1] == 255)                      # nothing estimated yet
    np.testing.assert_array_equal(em[1][1], ds[1][1] if method == "semi" else np.full((33, 41), 255))
    stats = em.e_step(model)
    assert stats == {"round": 1, "images": 5 if method == "semi" else 6, "changed": 1.0}
    assert model.training                               # its mode is restored
    model.eval()
    for i in em.weak:
        scores = predict_scores(model, ds[i][0])
        tags = image_tags(ds[i][1], 4)
        want = em_fixed(scores, tags, background=0) if method == "semi" else em_adapt(scores, tags, background=0)
        want[ds[i][1] == 255] = 255
        np.testing.assert_array_equal(em[i][1], want)
    again = em.e_step(model)                            # the same model: nothing changes
    assert again["round"] == 2 and again["changed"] == 0.0


def config(**kw):
    return TrainConfig(**dict(dict(crop_size=33, batch_size=2, max_iter=6, base_lr=1e-3, optimizer="adam",
                                   lr_policy="fixed", e_step_every=2, snapshot_every=3), **kw))


def test_the_trainer_alternates_e_and_m_steps():
    ds = scenes()
    em = EMTargets(ds, "em-adapt", 4, background=0)
    tr = Trainer(net(), em, config())
    seen = []
    original = em.e_step
    em.e_step = lambda model: seen.append(tr.iteration) or original(model)
    tr.fit(progress=False)
    assert seen == [0, 2, 4] and em.rounds == 3
    assert [e.get("e_step", {}).get("iteration") for e in tr.log] == [0, None, 2, None, 4, None]
    assert tr.log[0]["e_step"]["changed"] == 1.0 and 0.0 <= tr.log[2]["e_step"]["changed"] <= 1.0


@pytest.mark.parametrize("stop", [3, 4])   # after the E-step at 2; just before the one at 4
def test_resume_between_e_steps_is_bit_exact(tmp_path, stop):
    ds = scenes()
    a = Trainer(net(), EMTargets(ds, "semi", 4, background=0, strong={0, 3}), config())
    a.fit(progress=False)
    b = Trainer(net(), EMTargets(ds, "semi", 4, background=0, strong={0, 3}), config(snapshot_every=stop),
                out_dir=tmp_path)
    b.fit(max_iter=stop, progress=False)
    c = Trainer(net(), EMTargets(ds, "semi", 4, background=0, strong={0, 3}), config(), out_dir=tmp_path)
    assert c.resume() and c.iteration == stop and c.em.rounds == 2 and c.em_iteration == 2
    c.fit(progress=False)
    for k in a.model.params:
        np.testing.assert_array_equal(a.model.params[k], c.model.params[k])
    assert a.em.rounds == c.em.rounds == 3
    for i in a.em.weak:
        np.testing.assert_array_equal(a.em.targets[i], c.em.targets[i])
    assert [e["loss"] for e in a.log] == [e["loss"] for e in c.log]


def test_a_checkpoint_without_e_steps_is_refused(tmp_path):
    from minideeplab import FileFormatError

    ds = scenes()
    Trainer(net(), ds, config(e_step_every=0), out_dir=tmp_path).fit(max_iter=3, progress=False)
    c = Trainer(net(), EMTargets(ds, "semi", 4, background=0), config(), out_dir=tmp_path)
    with pytest.raises(FileFormatError, match="explicit E-steps"):
        c.resume()


def test_bad_settings_are_named():
    from minideeplab.weak import e_step

    with pytest.raises(ValueError, match="method"):
        e_step("em-fixed", np.zeros((3, 4, 4)), [0, 1])
    with pytest.raises(ValueError, match="method"):
        EMTargets(scenes(), "bbox-rect", 4)
    with pytest.raises(ValueError, match="e_step_every"):
        config(e_step_every=-1).validate()
    with pytest.raises(ValueError, match="target_fn"):
        Trainer(net(), EMTargets(scenes(), "semi", 4), config(), target_fn=lambda *a: a[2])


def test_train_command_with_e_steps(tmp_path, capsys):
    import json

    from minideeplab.cli import main

    args = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "6", "--batch-size", "2",
            "--max-iter", "4", "--snapshot-every", "2", "--supervision", "semi", "--strong-images", "2",
            "--e-step-every", "2", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    assert "semi-supervised: 2 of 6 images" in capsys.readouterr().out
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert [e["e_step"]["round"] for e in log if "e_step" in e] == [1, 2]
    assert main(args[:-5] + ["--supervision", "strong", "--e-step-every", "2", "--out", str(tmp_path / "b")]) == 2
    assert "--e-step-every applies to" in capsys.readouterr().err


def test_semi_class_weights_keep_the_classes_only_weak_images_hold():
    ds = scenes()
    strong = [i for i in range(len(ds)) if 3 not in ds[i][1]]     # no pixel-labelled image shows class 3
    assert len(strong) < len(ds) and strong
    em = EMTargets(ds, "semi", 4, background=0, strong=strong)
    tr = Trainer(net(), em, config(class_weighting="median-frequency"))
    from minideeplab.datasets import median_frequency_weights

    want = median_frequency_weights([ds[i][1] for i in strong], 4)
    np.testing.assert_allclose(tr.class_weights[:3], want[:3])
    assert want[3] == 0.0 and tr.class_weights[3] == 1.0            # EM may still teach it


def test_on_the_fly_class_weights_count_only_the_pixel_labelled_images():
    # with a target_fn the dataset still holds every image's ground truth; weak supervision may
    # only count the pixel-labelled images' (before: all images', a leak of the hidden labels)
    from minideeplab.datasets import median_frequency_weights
    from minideeplab.weak import em_target_fn

    ds = scenes()
    target_fn, strong = em_target_fn(ds, "semi", 4, 0, seed=0, strong_images=2)
    tr = Trainer(net(), ds, config(class_weighting="median-frequency", e_step_every=0), target_fn=target_fn,
                 strong=strong)
    want = median_frequency_weights([ds[i][1] for i in sorted(strong)], 4, absent=1.0)
    np.testing.assert_allclose(tr.class_weights, want, rtol=1e-12)
    everyone = median_frequency_weights([ds[i][1] for i in range(len(ds))], 4)
    assert not np.allclose(tr.class_weights, everyone)     # the check can tell the two apart


@pytest.mark.parametrize("on_the_fly", [True, False])
def test_em_adapt_refuses_median_frequency_weights(on_the_fly):
    from minideeplab.weak import em_target_fn

    ds = scenes()
    if on_the_fly:
        target_fn, strong = em_target_fn(ds, "em-adapt", 4, 0, seed=0)
        kw = dict(dataset=ds, config=config(class_weighting="median-frequency", e_step_every=0),
                  target_fn=target_fn, strong=strong)
    else:
        kw = dict(dataset=EMTargets(ds, "em-adapt", 4, background=0), config=config(class_weighting="median-frequency"))
    with pytest.raises(ValueError, match="median-frequency.*needs pixel labels"):
        Trainer(net(), **kw)
