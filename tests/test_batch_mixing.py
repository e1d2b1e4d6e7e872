"""Semi-supervised batches that mix a fixed number of pixel-labelled images with weakly
labelled ones (``TrainConfig.strong_per_batch``), as Papandreou et al. (ICCV 2015) train."""
import numpy as np
import pytest

from minideeplab.datasets import SyntheticScenes
from minideeplab.models import DeepLab
from minideeplab.train import Trainer, TrainConfig
from minideeplab.weak import EMTargets


def scenes():
    return SyntheticScenes(8, (33, 41), 4, objects=(1, 2), seed=2)


def net():
    return DeepLab("DeepLab-LargeFOV", 4, width=1 / 16, seed=0)


def config(**kw):
    return TrainConfig(**dict(dict(crop_size=33, batch_size=4, max_iter=6, base_lr=1e-3, optimizer="adam",
                                   lr_policy="fixed", snapshot_every=3), **kw))


def drawn(trainer, batches):
    """The image indices of ``batches`` batches, as the trainer draws them: (batches, batch_size)."""
    return np.array([trainer._sample()[2] for _ in range(batches)])


@pytest.mark.parametrize("k", [1, 3, 4])
def test_each_batch_holds_k_pixel_labelled_images_first(k):
    strong = {0, 5}
    idx = drawn(Trainer(net(), scenes(), config(strong_per_batch=k), strong=strong), 40)
    assert np.isin(idx[:, :k], list(strong)).all()
    assert not np.isin(idx[:, k:], list(strong)).any()
    assert set(idx[:, :k].ravel()) == strong                             # both strong images come up
    assert set(idx[:, k:].ravel()) == (set(range(8)) - strong if k < 4 else set())   # and every weak one


def test_without_mixing_the_draw_is_uniform_over_all_images():
    tr = Trainer(net(), scenes(), config(), strong={0, 5})
    idx = drawn(tr, 200)
    counts = np.bincount(idx.ravel(), minlength=8)
    assert counts.sum() == 800 and counts.min() > 60          # 100 expected per image
    # strong= changes nothing without strong_per_batch: the random stream of runs before the option
    np.testing.assert_array_equal(drawn(Trainer(net(), scenes(), config()), 5), idx[:5])


def test_an_emtargets_dataset_brings_its_own_strong_images():
    em = EMTargets(scenes(), "semi", 4, background=0, strong={2, 6})
    idx = drawn(Trainer(net(), em, config(strong_per_batch=2, e_step_every=2)), 30)
    assert set(idx[:, :2].ravel()) == {2, 6} and not np.isin(idx[:, 2:], [2, 6]).any()


def test_resume_with_mixed_batches_is_bit_exact(tmp_path):
    a = Trainer(net(), scenes(), config(strong_per_batch=1), strong={0, 5})
    a.fit(progress=False)
    b = Trainer(net(), scenes(), config(strong_per_batch=1), out_dir=tmp_path, strong={0, 5})
    b.fit(max_iter=3, progress=False)
    c = Trainer(net(), scenes(), config(strong_per_batch=1), out_dir=tmp_path, strong={0, 5})
    assert c.resume() and c.iteration == 3
    c.fit(progress=False)
    for name in a.model.params:
        np.testing.assert_array_equal(a.model.params[name], c.model.params[name])


def test_bad_mixing_settings_are_named():
    with pytest.raises(ValueError, match="strong_per_batch"):
        config(strong_per_batch=-1).validate()
    with pytest.raises(ValueError, match="strong="):
        Trainer(net(), scenes(), config(strong_per_batch=1))                     # which images are strong?
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(net(), scenes(), config(strong_per_batch=5), strong={0})          # more than a batch
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(net(), scenes(), config(strong_per_batch=2), strong=range(8))     # no weak image to fill it
    with pytest.raises(ValueError, match="indices"):
        Trainer(net(), scenes(), config(strong_per_batch=1), strong={9})


def test_train_command_mixes_semi_batches(tmp_path, capsys):
    from minideeplab.cli import main

    args = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "6", "--batch-size", "2",
            "--max-iter", "2", "--supervision", "semi", "--strong-images", "2", "--strong-per-batch", "1",
            "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args[:-2] + ["--e-step-every", "1", "--out", str(tmp_path / "em")]) == 0
    bad = ["train", "--width", "0.0625", "--size", "33", "--crop", "33", "--images", "6", "--batch-size", "2",
           "--max-iter", "2", "--supervision", "bbox-rect", "--strong-per-batch", "1", "--quiet",
           "--out", str(tmp_path / "b")]
    assert main(bad) == 2
    assert "--strong-per-batch applies to --supervision semi" in capsys.readouterr().err
