"""Bad inputs across the public entry points: each probe must fail with an error that names the
problem (and, where there is one, the fix), before any work and without touching what exists.

`PROBES` is the table run by one parametrized test; the tests below it cover the faults that need
a trained run (resume into another architecture, a corrupt newest checkpoint, a full disk).
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_hire import convert, data, training
from keras_hire.deploy import export_keras_file
from keras_hire.export import run_tflite, to_tflite
from keras_hire.models import create_model
from keras_hire.utils.keras_files import load_keras_file

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """A tiny DeiT saved as `.keras`, a few damaged files and a read-only folder."""
    root = tmp_path_factory.mktemp("bad_inputs")
    model = create_model("deit_tiny", depth=1, embed_dim=24, num_heads=2, patch_size=8, input_shape=SHAPE,
                         num_classes=10)
    model_path = str(root / "model.keras")
    model.save(model_path)
    files = {"model": model, "model_path": model_path, "root": str(root)}
    for name, content in {"empty.keras": b"", "garbage.keras": b"not a zip" * 100,
                          "truncated.keras": open(model_path, "rb").read()[:2000],
                          "garbage.tflite": b"\x00" * 64, "model.pth": b"\x80\x02garbage"}.items():
        with open(root / name, "wb") as handle:
            handle.write(content)
        files[name] = str(root / name)
    files["not_a_dir"] = files["garbage.tflite"]  # a file where a folder is expected
    return files


def _images(count=4, shape=SHAPE):
    return np.random.default_rng(0).normal(size=(count, *shape)).astype(np.float32)


PROBES = {
    # Model constructors.
    "misspelled constructor argument": (
        lambda c: create_model("cmt_tiny", num_clases=10),
        TypeError, r"unknown argument 'num_clases' \(did you mean 'num_classes'"),
    "fractional num_classes": (
        lambda c: create_model("deit_tiny", depth=1, num_classes=2.5),
        ValueError, r"num_classes must be an int >= 1.*2.5"),
    "zero num_classes": (
        lambda c: create_model("hire_mlp_tiny", num_classes=0), ValueError, r"num_classes must be an int >= 1"),
    "drop path rate above one": (
        lambda c: create_model("cmt_tiny", drop_path_rate=1.5),
        ValueError, r"drop_path_rate must be a number in \[0, 1\)"),
    "negative dropout": (
        lambda c: create_model("hire_mlp_tiny", dropout=-0.1), ValueError, r"dropout must be a number in \[0, 1\)"),
    "input shape without channels": (
        lambda c: create_model("deit_tiny", depth=1, input_shape=(32, 32)), ValueError, r"needs a static input_shape"),
    "input not a multiple of the patch": (
        lambda c: create_model("deit_tiny", depth=1, input_shape=(30, 30, 3)), ValueError, r"multiples of 16.*32x32"),
    "unknown registry name": (
        lambda c: create_model("deit_tinyy"), (KeyError, ValueError), r"deit_tinyy"),
    # Data.
    "unknown dataset": (
        lambda c: data.get_source("cifar10", "train"), ValueError, r"Unknown dataset 'cifar10'"),
    "missing folder split": (
        lambda c: data.get_source("folder", "train", c["root"]), FileNotFoundError, r"split .* does not exist"),
    "unknown embedded split": (
        lambda c: data.get_source("mnist_5k", "validation"), ValueError, r"splits 'train' and 'test'"),
    # Conversion and TFLite files.
    "unknown quantization": (
        lambda c: to_tflite(c["model"], "int4"), ValueError, r"Unknown quantization 'int4'"),
    "int8 without calibration data": (
        lambda c: to_tflite(c["model"], "int8"), ValueError, r"needs representative_data"),
    "int8 with empty calibration data": (
        lambda c: to_tflite(c["model"], "int8", []), ValueError, r"holds 0 image\(s\); int8 ranges need at least"),
    "int8 calibration of the wrong shape": (
        lambda c: to_tflite(c["model"], "int8", [_images(2, (16, 16, 3))]), ValueError,
        r"batch 0 has shape \(2, 16, 16, 3\); the model takes images of shape \(32, 32, 3\)"),
    "int8 calibration with NaN": (
        lambda c: to_tflite(c["model"], "int8", [np.full((1, *SHAPE), np.nan, np.float32)]), ValueError,
        r"NaN or infinite"),
    "TFLite bytes that are not a flatbuffer": (
        lambda c: run_tflite(b"\x00" * 64, _images(1)), ValueError, r"not a TFLite flatbuffer"),
    "TFLite file that is not a flatbuffer": (
        lambda c: run_tflite(c["garbage.tflite"], _images(1)),
        ValueError, r"garbage.tflite' is not a TFLite flatbuffer"),
    "missing TFLite file": (
        lambda c: run_tflite(os.path.join(c["root"], "absent.tflite"), _images(1)), FileNotFoundError,
        r"absent.tflite' does not exist"),
    "TFLite path that is a folder": (
        lambda c: run_tflite(c["root"], _images(1)), IsADirectoryError, r"is a directory"),
    # .keras files.
    "missing .keras file": (
        lambda c: load_keras_file(os.path.join(c["root"], "absent.keras")),
        FileNotFoundError, r"absent.keras' does not exist"),
    "empty .keras file": (
        lambda c: load_keras_file(c["empty.keras"]), ValueError, r"empty.keras' is empty \(0 bytes\)"),
    "corrupt .keras file": (
        lambda c: load_keras_file(c["garbage.keras"]),
        ValueError, r"garbage.keras' is corrupt: a .keras file is a zip"),
    "truncated .keras file": (
        lambda c: load_keras_file(c["truncated.keras"]), ValueError, r"truncated.keras' is corrupt"),
    "model path of another kind": (
        lambda c: load_keras_file(c["model.pth"]), ValueError, r"model.pth' is not a .keras file"),
    # Export binary's library function.
    "export into a file instead of a folder": (
        lambda c: export_keras_file(c["model_path"], os.path.join(c["not_a_dir"], "out"), ("float32",)),
        PermissionError, r"output_dir .* is not writable"),
    "export of a corrupt model": (
        lambda c: export_keras_file(c["garbage.keras"], os.path.join(c["root"], "out"), ("float32",)),
        ValueError, r"garbage.keras' is corrupt"),
    "export verified on a split of other classes": (
        lambda c: export_keras_file(c["model_path"], os.path.join(c["root"], "out"), ("float32",),
                                    dataset="folder", data_dir=_folder(c, 2)),
        ValueError, r"model has 10 outputs but the verification split .* has 2 classes"),
    # Official checkpoints.
    "checkpoint of other widths": (
        lambda c: convert.load_pytorch_weights(_deit(embed_dim=24), _deit_state()), ValueError,
        r"31 shape mismatch\(es\): blocks.0.attn.proj.bias: checkpoint \(48,\) -> \(48,\), model \(24,\)"),
    "checkpoint with unknown and missing names": (
        lambda c: convert.load_pytorch_weights(_deit(), _renamed_state()), ValueError,
        r"have no place in the model: blocks.0.norm9.weight.*not in the checkpoint: blocks.0.norm1.weight"),
    "skip prefix that matches nothing": (
        lambda c: convert.load_pytorch_weights(_deit(), _deit_state(), skip="haed."), ValueError,
        r"skip prefix\(es\) \['haed.'\] match no name"),
    "skip entries that are not prefixes": (
        lambda c: convert.load_pytorch_weights(_deit(), _deit_state(), skip=[3]), TypeError, r"non-empty name prefix"),
    "pickled .pth without torch or not a checkpoint": (
        lambda c: convert.load_pytorch_weights(_deit(), c["model.pth"]), (ValueError, ImportError, OSError),
        r"model.pth"),
    # Training.
    "init checkpoint that is a folder": (
        lambda c: training.load_initial_weights(_deit(), c["root"]),
        IsADirectoryError, r"init_checkpoint .* is a directory"),
    "model_dir that is a file": (
        lambda c: training.train(training.TrainConfig(model="deit_tiny", model_kwargs={"depth": 1},
                                                      model_dir=c["not_a_dir"])),
        PermissionError, r"model_dir .* is not writable"),
}


def _folder(ctx, num_classes):
    from tests.test_folder_training import write_folder

    root = os.path.join(ctx["root"], f"folder_{num_classes}")
    if not os.path.exists(root):
        write_folder(root, classes=[f"c{i}" for i in range(num_classes)], per_class=2)
    return root


FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "timm_deit_tiny.npz")


def _deit(embed_dim=48):
    """The DeiT of the timm fixture (embed 48, depth 2, patch 8, 5 classes) or one of other widths."""
    return create_model("deit_tiny", depth=2, embed_dim=embed_dim, num_heads=3, patch_size=8, input_shape=SHAPE,
                        num_classes=5)


def _deit_state():
    from tests.model_checks import fixture_state

    return fixture_state(FIXTURE)


def _renamed_state():
    state = _deit_state()
    state["blocks.0.norm9.weight"] = state.pop("blocks.0.norm1.weight")
    return state


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_bad_input_gives_a_clear_error(probe, ctx):
    call, error, message = PROBES[probe]
    with pytest.raises(error, match=message):
        call(ctx)


def test_a_rejected_checkpoint_assigns_nothing():
    model = _deit()
    before = [w.copy() for w in model.get_weights()]
    state = _deit_state()
    state["blocks.0.mlp.fc1.weight"] = np.zeros((5, 5), np.float32)  # the last name sorted is fine, this one is not
    with pytest.raises(ValueError, match=r"blocks.0.mlp.fc1.weight: checkpoint \(5, 5\)"):
        convert.load_pytorch_weights(model, {name: value + 1 for name, value in state.items()})
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_skip_takes_a_string_and_reports_what_it_skipped(capsys):
    loaded = convert.load_pytorch_weights(_deit(), _deit_state(), skip="head.")
    assert loaded and not any(name.startswith("head.") for name in loaded)
    assert "skipped 2 name(s) under ['head.']: head.bias, head.weight" in capsys.readouterr().out


TINY_RUN = dict(model="deit_tiny", model_kwargs={"depth": 1, "embed_dim": 16, "num_heads": 2, "patch_size": 7},
                epochs=1, batch_size=32, steps_per_epoch=2, eval_steps=1, jit_compile=False, tensorboard=False,
                verbose=0)


def test_resume_into_a_run_of_another_architecture_names_both(tmp_path):
    training.train(training.TrainConfig(model_dir=str(tmp_path), **TINY_RUN))
    other = dict(TINY_RUN, model_kwargs=dict(TINY_RUN["model_kwargs"], embed_dim=32), epochs=2)
    with pytest.raises(ValueError, match=r"holds a checkpoint of another model: model_kwargs .*'embed_dim': 16.* "
                                         r"\(checkpoint\) vs .*'embed_dim': 32.* \(this run\)"):
        training.train(training.TrainConfig(model_dir=str(tmp_path), **other))


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    config = training.TrainConfig(model_dir=str(tmp_path), **dict(TINY_RUN, epochs=2))
    training.train(config)
    checkpoints = tmp_path / "checkpoints"
    newest = checkpoints / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated after it was committed
    report = training.train(config.replace(epochs=3))
    out = capsys.readouterr().out
    assert "WARNING: cannot read" in out and "falling back to epoch-0001.weights.h5" in out
    assert [record["epoch"] for record in report["history"]] == [1, 2, 3]  # epoch 2 trained again


def test_a_full_disk_fails_the_checkpoint_cleanly_and_keeps_the_last_one(tmp_path, monkeypatch):
    config = training.TrainConfig(model_dir=str(tmp_path), **TINY_RUN)
    training.train(config)
    state_before = (tmp_path / "checkpoints" / "state.json").read_text()

    import keras_hire.utils.paths as paths

    monkeypatch.setattr(paths.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1024, 1024))
    with pytest.raises(OSError, match=r"Not enough disk space for the epoch 2 checkpoint .* 0.0 MiB free"):
        training.train(config.replace(epochs=2))
    assert (tmp_path / "checkpoints" / "state.json").read_text() == state_before
    assert json.loads(state_before)["epoch"] == 1
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch-0001.weights.h5", "state.json"]
    keras.utils.clear_session()
