"""keras_hire.training and training/train.py: schedule, strategies, checkpoints, reports,
resume after SIGKILL, and two-worker MultiWorkerMirroredStrategy on localhost."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hire import training
from tests.binary_runs import REPO, assert_same_weights, child_env, kill_after_epochs, run_two_workers

TRAIN = os.path.join(REPO, "training", "train.py")
PLUGGED = os.path.join(REPO, "tests", "plugged_train.py")  # the same run with a method's own model plugged in
BINARIES = pytest.mark.parametrize("binary", [TRAIN, PLUGGED], ids=["registry_model", "plugged_model"])
# A one-block DeiT: its training graph traces in a fraction of a Hire-MLP's (the trainer does not care).
MODEL = "deit_tiny"
TINY = json.dumps({"patch_size": 7, "embed_dim": 16, "depth": 1, "num_heads": 2})
HIRE_TINY = {"depths": [1, 1, 1, 1], "embed_dims": [8, 16, 16, 16]}


def _train_command(model_dir, *extra, binary=TRAIN):
    return [sys.executable, binary, f"--model={MODEL}", f"--model_kwargs={TINY}", "--dataset=mnist_5k",
            "--batch_size=32", "--learning_rate=3e-3", f"--model_dir={model_dir}", "--verbose=2", "--nojit_compile",
            "--notensorboard", *extra]


def test_warmup_cosine_schedule():
    schedule = training.WarmupCosine(1e-3, total_steps=110, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    values = [float(schedule(step)) for step in (0, 5, 10, 60, 110, 500)]
    np.testing.assert_allclose(values[0], 1e-6, rtol=1e-5)
    np.testing.assert_allclose(values[1], 1e-6 + (1e-3 - 1e-6) / 2, rtol=1e-5)
    np.testing.assert_allclose(values[2], 1e-3, rtol=1e-5)
    np.testing.assert_allclose(values[3], (1e-3 + 1e-5) / 2, rtol=1e-4)
    np.testing.assert_allclose(values[4:], 1e-5, rtol=1e-5)
    assert training.WarmupCosine(**schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps"):
        training.WarmupCosine(1e-3, total_steps=10, warmup_steps=20)


def test_config_validation_and_default_learning_rate():
    assert training.TrainConfig(batch_size=1024).peak_learning_rate() == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="strategy"):
        training.TrainConfig(strategy="horovod")
    with pytest.raises(ValueError, match="mixed_precision"):
        training.TrainConfig(mixed_precision="fp8")


def test_strategies_by_name(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert isinstance(training.make_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    assert isinstance(training.make_strategy("mirrored"), tf.distribute.MirroredStrategy)
    assert isinstance(training.make_strategy("auto"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.make_strategy("multi_worker")
    assert training.is_chief()
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not training.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert training.is_chief()


def test_weight_decay_skips_biases_and_norms():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    training.compile_for_training(model, training.TrainConfig(epochs=2, jit_compile=False), steps_per_epoch=5)
    optimizer = model.optimizer
    decayed = [v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)]
    assert decayed == [model.layers[0].kernel.path]


def test_checkpoints_are_atomic_and_restore_optimizer_state(tmp_path):
    directory = str(tmp_path / "checkpoints")

    def fresh():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        return training.compile_for_training(model, training.TrainConfig(epochs=3, jit_compile=False), 2)

    x, y = np.random.rand(8, 4).astype("float32"), np.eye(2)[np.arange(8) % 2].astype("float32")
    model = fresh()
    callback = training.EpochCheckpoint(directory, [], keep=2)
    model.fit(x, y, batch_size=4, epochs=3, callbacks=[callback], verbose=0)
    files = sorted(os.listdir(directory))
    assert files == ["epoch-0002.weights.h5", "epoch-0003.weights.h5", "state.json"]  # no temp files left
    state = training.read_checkpoint_state(directory)
    assert state["epoch"] == 3 and [r["epoch"] for r in state["history"]] == [1, 2, 3]
    restored = fresh()
    training.restore_checkpoint(restored, directory, state)
    assert int(restored.optimizer.iterations.numpy()) == 6
    for a, b in zip(model.weights + model.optimizer.variables, restored.weights + restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_train_in_process_writes_reports_and_eval_only_matches(tmp_path):
    model_dir = str(tmp_path / "run")
    config = training.TrainConfig(model=MODEL, model_kwargs=json.loads(TINY), epochs=2, batch_size=32,
                                  steps_per_epoch=10, eval_steps=4, model_dir=model_dir, jit_compile=False,
                                  tensorboard=False, verbose=0)
    report = training.train(config)
    for name in ("metrics.json", "training_curves.png", "model.keras", "checkpoints/state.json"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        saved = json.load(handle)
    assert [r["epoch"] for r in saved["history"]] == [1, 2]
    assert {"loss", "accuracy", "val_accuracy", "learning_rate", "seconds"} <= set(saved["history"][0])
    assert saved["final"] == report["final"] and saved["config"]["model"] == MODEL
    with open(os.path.join(model_dir, "training_curves.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    evaluated = training.train(config.replace(eval_only=True))
    assert evaluated["final"]["accuracy"] == pytest.approx(report["final"]["accuracy"])


def test_mixed_bfloat16_trains_and_restores_the_global_policy(tmp_path):
    config = training.TrainConfig(model=MODEL, model_kwargs=json.loads(TINY), epochs=1, batch_size=32,
                                  steps_per_epoch=3, eval_steps=1, model_dir=str(tmp_path),
                                  mixed_precision="mixed_bfloat16", jit_compile=False, tensorboard=False, verbose=0)
    report = training.train(config)
    assert np.isfinite(report["history"][0]["loss"])
    assert keras.mixed_precision.global_policy().name == "float32"


def test_init_checkpoint_from_keras_file_keeps_a_resized_head_fresh(tmp_path):
    from keras_hire.models import create_model

    kwargs = HIRE_TINY
    source = create_model("hire_mlp_tiny", num_classes=10, input_shape=(28, 28, 1), **kwargs)
    path = str(tmp_path / "source.keras")
    source.save(path)
    target = create_model("hire_mlp_tiny", num_classes=3, input_shape=(28, 28, 1), **kwargs)
    message = training.load_initial_weights(target, path)
    assert "kept fresh: head" in message
    np.testing.assert_array_equal(target.get_layer("patch_embed.proj").kernel.numpy(),
                                  source.get_layer("patch_embed.proj").kernel.numpy())


@BINARIES
def test_killed_run_resumes_from_last_checkpoint_losing_at_most_one_epoch(tmp_path, binary):
    model_dir = str(tmp_path / "run")
    schedule = ("--epochs=3", "--steps_per_epoch=10", "--eval_steps=2")
    command = _train_command(model_dir, *schedule, binary=binary)
    state_path = os.path.join(model_dir, "checkpoints", "state.json")
    done_at_kill = kill_after_epochs(command, model_dir, epochs=1)
    assert 1 <= done_at_kill < 3
    with open(state_path) as handle:
        history_at_kill = json.load(handle)["history"]

    resumed = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    resumed_from = int(log.split("after epoch ")[1].split()[0])
    assert resumed_from >= done_at_kill  # at most the epoch in progress was lost
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        metrics = json.load(handle)
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    assert metrics["history"][: len(history_at_kill)] == history_at_kill
    assert f"Epoch {resumed_from + 1}/3" in log and f"Epoch {resumed_from}/3" not in log

    # Same data order, optimizer state and step: the resumed run ends where an uninterrupted one does
    # (checked on the registry binary; the plugged one resumes through the same trainer code).
    if binary != PLUGGED:
        straight_dir = str(tmp_path / "straight")
        straight_command = _train_command(straight_dir, *schedule, binary=binary)
        straight = subprocess.run(straight_command, cwd=REPO, env=child_env(), capture_output=True, text=True,
                                  timeout=300)
        assert straight.returncode == 0, straight.stderr[-3000:]
        assert_same_weights(os.path.join(model_dir, "model.keras"), os.path.join(straight_dir, "model.keras"))
    if binary == PLUGGED:  # its metric and callback ran in every epoch, the resumed ones included
        assert {"top2", "val_top2"} <= set(metrics["history"][-1])
        with open(os.path.join(model_dir, "plugged_epochs.csv")) as handle:
            epochs_logged = [int(line.split(",")[0]) for line in handle.read().splitlines()[1:] if line[:1].isdigit()]
        assert epochs_logged[-1] == 2 and set(range(resumed_from, 3)) <= set(epochs_logged)


# The registry binary only: the method binaries that plug their own models in (distillation,
# enlarging) have their own two-worker tests, through the same trainer code.
@pytest.mark.parametrize("binary", [TRAIN], ids=["registry_model"])
def test_two_workers_on_localhost_end_with_identical_weights(tmp_path, binary):
    model_dir = str(tmp_path / "run")
    command = _train_command(model_dir, "--strategy=multi_worker", "--epochs=1", "--steps_per_epoch=3",
                             "--eval_steps=1", binary=binary)
    outputs, chief, other = run_two_workers(command, model_dir)
    assert "MultiWorkerMirroredStrategy, 2 replica(s), task worker_0" in outputs[0]
    assert chief["task"] == "worker_0" and other["task"] == "worker_1"
    assert chief["weights_digest"] == other["weights_digest"]
    assert chief["final"] == pytest.approx(other["final"])
    assert os.path.exists(os.path.join(model_dir, "model.keras"))  # written by the chief only
    assert sorted(os.listdir(os.path.join(model_dir, "workers"))) == ["worker_1"]
