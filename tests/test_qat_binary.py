"""training/qat.py: the TFMOT path end to end on the digits from a trained float model, and its bad flags."""

import json
import os
import subprocess
import sys

from tests.binary_runs import REPO, child_env, run_two_workers

QAT = os.path.join(REPO, "training", "qat.py")
_CNN = ["--model=digits_cnn", '--model_kwargs={"widths": [8, 16], "stem_width": 8}', "--dataset=mnist_5k",
        "--batch_size=32", "--epochs=1", "--steps_per_epoch=4", "--eval_steps=2", "--verbose=0", "--notensorboard"]


def _run(*flags):
    return subprocess.run([sys.executable, QAT, *flags], cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=600)


def test_qat_binary_picks_the_bridge_and_writes_a_verified_int8_file(tmp_path):
    from keras_hire.models import create_model

    float_path = str(tmp_path / "float.keras")
    create_model("digits_cnn", widths=(8, 16), stem_width=8, num_classes=10, input_shape=(28, 28, 1)).save(float_path)
    model_dir = str(tmp_path / "run")
    done = _run(*_CNN, "--qat", f"--init_checkpoint={float_path}", f"--model_dir={model_dir}",
                "--num_calibration=32")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "digits_cnn: tfmot path" in done.stdout
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        report = json.load(handle)
    assert report["stages"] == ["qat"] and report["file"]["kind"] == "int8"
    assert report["config"]["qat"] is True and report["config"]["train"]["init_checkpoint"] == float_path
    assert os.path.getsize(os.path.join(model_dir, "model.tflite")) == report["file"]["bytes"]


def test_bad_compression_flags_are_usage_errors(tmp_path):
    # One bad flag through the binary; every bad setting is checked in process by tests/test_tfmot_bridge.py.
    done = _run(*_CNN, "--prune_sparsity=1.5", "--clusters=1", f"--model_dir={tmp_path / 'run'}")
    assert done.returncode != 0 and "prune_sparsity" in done.stderr, done.stderr[-2000:]
    assert not os.path.exists(tmp_path / "run")


def test_native_qat_on_two_workers_trains_in_step_and_the_chief_alone_writes_the_file(tmp_path):
    model_dir = str(tmp_path / "run")
    command = [sys.executable, QAT, "--model=deit_tiny", "--dataset=mnist_5k",
               '--model_kwargs={"patch_size": 7, "embed_dim": 16, "depth": 1, "num_heads": 2}', "--batch_size=32",
               "--epochs=1", "--steps_per_epoch=3", "--eval_steps=1", "--verbose=0", "--notensorboard",
               "--nojit_compile", "--qat", "--qat_init=ptq", "--num_calibration=16", "--strategy=multi_worker",
               f"--model_dir={model_dir}"]
    outputs, chief, other = run_two_workers(command, model_dir)
    assert "deit_tiny: native path" in outputs[1]
    assert chief["weights_digest"] == other["weights_digest"]  # ranges included: the QAT model's every weight
    assert chief["file"]["kind"] == "int8" and chief["file"]["xnnpack_not_delegated"] == {}
    assert chief["file"]["agreement"] >= 0.9 and "file" not in other
    assert sorted(os.listdir(os.path.join(model_dir, "workers"))) == ["worker_1"]  # no file of worker 1's own
    assert os.path.exists(os.path.join(model_dir, "qat_ranges.json"))
