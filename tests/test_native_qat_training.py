"""compress() on the native path: a tiny DeiT, ranges started from the PTQ-for-ViT intervals, QAT-trained on
the digits to a checked int8 file, then resumed with its trained ranges."""

import json

import keras
import pytest

from keras_hire.methods.quantization import CompressConfig, compress, qat_products
from keras_hire.training import TrainConfig

_DEIT = {"patch_size": 7, "embed_dim": 16, "depth": 1, "num_heads": 2}


def _run(model_dir, epochs):
    train = TrainConfig(model="deit_tiny", model_kwargs=_DEIT, dataset="mnist_5k", epochs=epochs, steps_per_epoch=2,
                        batch_size=32, eval_steps=1, learning_rate=1e-3, verbose=0, tensorboard=False,
                        model_dir=str(model_dir))
    return compress(CompressConfig(train=train, qat=True, num_calibration=16, qat_init="ptq"))


def _ranges(model_dir):
    with open(model_dir / "qat_ranges.json") as handle:
        return json.load(handle)


def test_native_qat_from_ptq_intervals_writes_a_checked_int8_file_and_resumes_with_its_ranges(tmp_path, capsys):
    model_dir = tmp_path / "qat"
    first = _run(model_dir, epochs=1)
    out = capsys.readouterr().out
    assert "deit_tiny: native path" in out and "ranges from ptq" in out
    facts = first["file"]
    assert facts["kind"] == "int8" and facts["xnnpack_not_delegated"] == {} and facts["agreement"] >= 0.95
    assert first["qat"] == {"init": "ptq", "layers": 8}  # patch embedding, q, k, v, proj, fc1, fc2, head
    assert (model_dir / "ptq_search_state.json").exists()  # the search resumes too
    after_one = _ranges(model_dir)
    q_low, q_high = after_one["blocks.0.attn/q"]["input"]  # a symmetric 8-bit interval [-128 d, 127 d], 2 EMA steps
    assert q_low < 0 < q_high and -q_low / q_high == pytest.approx(128 / 127, rel=0.01)
    assert not qat_products(keras.saving.load_model(model_dir / "model.keras"))  # the float model, trained

    second = _run(model_dir, epochs=2)
    out = capsys.readouterr().out
    assert "resuming from" in out and "searching" not in out and "ranges from" not in out
    assert second["epochs_done"] == 2 and second["file"]["xnnpack_not_delegated"] == {}
    after_two = _ranges(model_dir)
    assert after_two.keys() == after_one.keys()
    for name, ranges in after_one.items():  # two more moving-average steps from the restored ranges
        for kind in ("input", "output"):
            if ranges[kind] is not None:
                assert after_two[name][kind] != ranges[kind]
                assert after_two[name][kind] == pytest.approx(ranges[kind], rel=0.05, abs=1e-3), (name, kind)
