"""Every registered family trains, evaluates, resumes and exports on an ImageNet-layout image folder
(the README's ImageNet path): folder images have no static size, which once broke the families whose
layers need the token grid. Also: split class lists are checked against the training split's, and a
capped evaluation reads a class-balanced subset."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_hire import data, training
from keras_hire.data.class_list import check_split, read_class_list
from keras_hire.deploy import export_keras_file
from keras_hire.models import list_models, model_info
from tests.test_registry import SMALL_CONFIGS

CLASSES = ("cat", "dog", "fox")


def write_folder(root, splits=("train", "val"), classes=CLASSES, per_class=4, size=(40, 36)):
    rng = np.random.default_rng(0)
    for split in splits:
        for label, name in enumerate(classes):
            directory = os.path.join(root, split, name)
            os.makedirs(directory, exist_ok=True)
            for index in range(per_class):
                # Each class has its own mean brightness, so a trained model can tell them apart.
                pixels = rng.integers(0, 80, (*size, 3)) + 80 * label
                Image.fromarray(pixels.astype(np.uint8)).save(os.path.join(directory, f"{index}.png"))
    return str(root)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("folder"))


def _first_model(prefix):
    return next(name for name in list_models() if name.startswith(prefix))


def _one_prefix_per_family():
    """The registry prefixes, one per architecture class (deit_/vit_ and ghostnet_/s_ghostnet_ share one)."""
    chosen = {}
    for prefix in sorted(SMALL_CONFIGS):
        chosen.setdefault(model_info(_first_model(prefix)).family, prefix)
    return sorted(chosen.values())


# Narrow widths on top of the registry's shallow configurations: what broke on folders was the token
# grid of images with no static size, which does not depend on widths (and narrow runs cost a fraction).
NARROW = {
    "hire_mlp_": dict(embed_dims=(8, 16, 16, 16), depths=(1, 1, 1, 1)),  # its graph traces slowly: one block each
    "cmt_": dict(embed_dims=(8, 16, 32, 64), stem_channels=8),
    "deit_": dict(embed_dim=32, num_heads=2),
    "aug_vit_": dict(embed_dim=32, num_heads=2),
    "cait_": dict(embed_dim=32, num_heads=2),
    "ghostnet_": dict(width=0.25),
}


def _config(prefix, folder, model_dir, **fields):
    (height, _), overrides = SMALL_CONFIGS[prefix]
    overrides = {**overrides, **NARROW.get(prefix, {})}
    base = dict(model=_first_model(prefix), model_kwargs=overrides, dataset="folder", data_dir=folder,
                image_size=height, epochs=1, batch_size=4, model_dir=model_dir, jit_compile=False,
                tensorboard=False, verbose=0)
    base.update(fields)
    return training.TrainConfig(**base)


@pytest.mark.parametrize("prefix", _one_prefix_per_family())
def test_family_trains_and_exports_on_an_image_folder(prefix, folder, tmp_path):
    model_dir = str(tmp_path / "run")
    first = training.train(_config(prefix, folder, model_dir))
    assert len(first["history"]) == 1 and np.isfinite(first["history"][0]["val_loss"])
    with open(os.path.join(model_dir, "classes.json")) as handle:
        assert json.load(handle)["class_names"] == list(CLASSES)

    report = export_keras_file(os.path.join(model_dir, "model.keras"), str(tmp_path / "files"), ("float32",),
                               dataset="folder", data_dir=folder, num_eval=12, log=lambda _: None)
    (checked,) = report["files"]
    assert checked["agreement"] == 1.0
    assert report["keras_accuracy"] == pytest.approx(first["final"]["accuracy"])


@pytest.mark.parametrize("prefix", ["deit_"])  # a family whose layers need the token grid (and trace quickly)
def test_a_folder_run_resumes(prefix, folder, tmp_path):
    model_dir = str(tmp_path / "run")
    first = training.train(_config(prefix, folder, model_dir))
    resumed = training.train(_config(prefix, folder, model_dir, epochs=2))
    assert [record["epoch"] for record in resumed["history"]] == [1, 2]
    assert resumed["history"][0] == first["history"][0]  # epoch 1 was read back, not retrained


def test_an_evaluation_split_with_other_classes_fails_before_training(tmp_path):
    root = write_folder(tmp_path / "data", splits=("train",))
    write_folder(tmp_path / "data", splits=("val",), classes=("cat", "fox"))
    config = _config("deit_", root, str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"val has 2 classes, the training split .* had 3: missing \['dog'\]"):
        training.train(config)
    assert not os.path.exists(str(tmp_path / "run"))  # failed before any work


def test_export_verification_refuses_a_split_the_model_was_not_trained_on(folder, tmp_path):
    model_dir = str(tmp_path / "run")
    training.train(_config("deit_", folder, model_dir))
    model_path = os.path.join(model_dir, "model.keras")
    renamed = write_folder(tmp_path / "renamed", classes=("ant", "bee", "cow"))
    with pytest.raises(ValueError, match=r"missing \['cat', 'dog', 'fox'\], extra \['ant', 'bee', 'cow'\]"):
        export_keras_file(model_path, str(tmp_path / "a"), ("float32",), dataset="folder", data_dir=renamed)
    two = write_folder(tmp_path / "two", classes=("cat", "dog"))
    with pytest.raises(ValueError, match="model has 3 outputs but the verification split .* has 2 classes"):
        export_keras_file(model_path, str(tmp_path / "b"), ("float32",), dataset="folder", data_dir=two)
    grey = dict(read_class_list(model_path), channels=1)  # as if trained on grey images of these classes
    with pytest.raises(ValueError, match="holds 3-channel images, the training split .* 1-channel ones"):
        check_split(grey, data.get_source("folder", "val", folder), "verification split")

def test_capped_evaluation_reads_a_seeded_class_balanced_subset():
    source = data.get_source("mnist_5k", "test")  # stored sorted by digit
    _, labels = data.eval_arrays(source, (28, 28), limit=50, shuffle_seed=3)
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10
    _, again = data.eval_arrays(source, (28, 28), limit=50, shuffle_seed=3)
    np.testing.assert_array_equal(labels, again)
    _, first = data.eval_arrays(source, (28, 28), limit=50)
    assert set(first.tolist()) == {0}  # the unseeded cap is the stored order, as documented


def test_eval_steps_caps_the_evaluation_to_balanced_batches(tmp_path):
    from keras_hire.training.run_data import prepare_data

    config = training.TrainConfig(model="deit_tiny", model_kwargs={"depth": 1}, batch_size=20, eval_steps=2,
                                  model_dir=str(tmp_path))
    run = prepare_data(config)
    labels = np.concatenate([batch[1].numpy().argmax(-1) for batch in
                             run.eval_stream(config.batch_size, config.eval_steps, config.seed)])
    assert len(labels) == 40 and np.bincount(labels, minlength=10).tolist() == [4] * 10
