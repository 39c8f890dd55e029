"""Adversarial training (PGD-k, FreeAT) plugged into the shared trainer: the attack inside the step,
FreeAT's persistent perturbation and stretched schedule, resume equal to an uninterrupted run,
and the evaluate mode (ours and ART's PGD, ART AutoAttack)."""

import json
import os

import keras
import numpy as np
import pytest

from keras_hire.data import mnist_5k_arrays
from keras_hire.methods.robustness import run
from keras_hire.methods.robustness.adversarial_training import AdversarialTraining, ReplayedSchedule
from keras_hire.methods.robustness.config import NadarConfig
from keras_hire.training import TrainConfig
from tests.binary_runs import assert_same_weights
from tests.crash_callbacks import Crash, CrashAfterFirstEpoch

MEAN, STD = (0.1307 * 255,), (0.3081 * 255,)


def _normalised_digits(count=64):
    images, labels = mnist_5k_arrays()["train"]
    order = np.random.RandomState(0).permutation(len(images))[:count]
    return (images[order].astype("float32") - MEAN[0]) / STD[0], np.eye(10, dtype="float32")[labels[order]]


def _inner():
    keras.utils.set_random_seed(0)
    return keras.models.clone_model(keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, strides=2, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(10)]))


def test_pgd_attack_inside_the_step_stays_in_the_ball_and_raises_the_loss():
    wrapper = AdversarialTraining(_inner(), MEAN, STD, method="pgd", epsilon=0.2, step_size=0.05, steps=5)
    images, onehot = _normalised_digits(32)
    pixels = keras.ops.convert_to_numpy(wrapper.to_pixels(images))
    adversarial = keras.ops.convert_to_numpy(wrapper.attack(images, onehot))
    assert np.abs(adversarial - pixels).max() <= 0.2 + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    clean_loss = float(loss(onehot, wrapper.pixel_logits(pixels)))
    assert float(loss(onehot, wrapper.pixel_logits(adversarial))) > clean_loss + 0.1


def test_free_adversarial_training_replays_each_batch_and_keeps_a_bounded_perturbation():
    wrapper = AdversarialTraining(_inner(), MEAN, STD, method="free", epsilon=0.1, step_size=0.1, replays=3,
                                  replica_batch=16)
    schedule = keras.optimizers.schedules.PolynomialDecay(1e-2, 100, 1e-4)
    wrapper.compile(keras.optimizers.SGD(schedule), keras.losses.CategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"], jit_compile=False)
    images, onehot = _normalised_digits(64)
    history = wrapper.fit(images, onehot, batch_size=16, epochs=1, verbose=0, shuffle=False)
    assert int(wrapper.optimizer.iterations) == 3 * 4  # 4 batches, 3 replays each
    delta = keras.ops.convert_to_numpy(wrapper.delta)
    assert np.abs(delta).max() == pytest.approx(0.1) and np.abs(delta).max() <= 0.1 + 1e-7
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history
    assert isinstance(wrapper.optimizer._learning_rate, ReplayedSchedule)  # the schedule runs per batch
    assert float(wrapper.optimizer._learning_rate(7)) == pytest.approx(float(schedule(2)))


@pytest.mark.parametrize("arguments, message", [
    (dict(method="trades"), "method='trades': unknown"),
    (dict(method="free"), "FreeAT needs replays >= 1"),
    (dict(epsilon=-1.0), "epsilon=-1.0: must be >= 0"),
    (dict(steps=0), "steps=0"),
])
def test_bad_adversarial_training_arguments_fail(arguments, message):
    with pytest.raises(ValueError, match=message):
        AdversarialTraining(_inner(), MEAN, STD, **arguments)


def test_config_refuses_a_pgd_that_cannot_reach_the_ball_edge():
    with pytest.raises(ValueError, match="cannot reach the ball's edge"):
        NadarConfig(epsilon=0.3, step_size=0.01, steps=7)


def _config(model_dir, epochs, method="free"):
    train = TrainConfig(model="digits_cnn", model_kwargs={"widths": [8, 16], "stem_width": 8}, epochs=epochs,
                        steps_per_epoch=3, eval_steps=1, batch_size=32, learning_rate=2e-3, label_smoothing=0.0,
                        jit_compile=False, tensorboard=False, verbose=0, model_dir=str(model_dir))
    return NadarConfig(train=train, method=method, epsilon=0.3, step_size=0.1, steps=3, replays=2,
                       eval_examples=32, autoattack="fast", autoattack_examples=8, eval_steps_pgd=5)


@pytest.mark.parametrize("method", ["free", "pgd"])
def test_resumed_adversarial_training_ends_with_the_uninterrupted_weights(tmp_path, method):
    resumed_dir, straight_dir = tmp_path / "resumed", tmp_path / "straight"
    with pytest.raises(Crash):  # dies after epoch 1 is committed (tests/test_training.py uses SIGKILL)
        run.retrain(_config(resumed_dir, 2, method), callbacks=[CrashAfterFirstEpoch()])
    report = run.retrain(_config(resumed_dir, 2, method))  # picks up after epoch 1
    run.retrain(_config(straight_dir, 2, method))
    assert [record["epoch"] for record in report["history"]] == [1, 2]
    assert_same_weights(str(resumed_dir / "model.keras"), str(straight_dir / "model.keras"))
    saved = keras.models.load_model(str(resumed_dir / "model.keras"), compile=False)
    assert saved.name == "digits_cnn"  # the inner model alone is the artefact
    with open(resumed_dir / run.NADAR_CONFIG) as handle:
        assert json.load(handle)["method"] == method


def test_evaluate_reports_our_pgd_arts_pgd_and_autoattack(tmp_path):
    pytest.importorskip("art")
    config = _config(tmp_path / "run", 1, "pgd")
    run.retrain(config)
    results = run.evaluate(config, verbose=0)
    assert results["examples"] == 32 and results["pgd_art_gap"] <= 1 / 32
    assert results["pgd"]["robust_accuracy"] <= results["clean_accuracy"]
    assert results["autoattack"]["examples"] == 8
    assert 0.0 <= results["autoattack"]["robust_accuracy"] <= 1.0
    assert os.path.exists(tmp_path / "run" / "robustness.json")
    assert "ART AutoAttack" in run.summary_line(results)
