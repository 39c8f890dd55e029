"""Attacks of keras_hire.methods.robustness: agreement with ART's PGD on the same model, the budget
(ball, pixel range), targeted and random-start behaviour, robust accuracy, and bad inputs."""

import functools

import keras
import numpy as np
import pytest

from keras_hire.data import mnist_5k_arrays
from keras_hire.methods.robustness import Attack, art_pgd, fgsm, pgd, robust_accuracy, with_normalization

pytest.importorskip("art")


@functools.lru_cache(maxsize=None)
def _digits(count=48):
    images, labels = mnist_5k_arrays()["test"]
    order = np.random.RandomState(0).permutation(len(images))[:count]
    return images[order].astype("float32") / 255.0, labels[order]


@functools.lru_cache(maxsize=None)
def _trained_model():
    """A small CNN on [0, 1] pixels trained for a few seconds on 1,500 digits (test accuracy > 85%)."""
    keras.utils.set_random_seed(0)
    images, labels = mnist_5k_arrays()["train"]
    order = np.random.RandomState(1).permutation(len(images))[:1500]  # stored order is sorted by class
    images, labels = images[order], labels[order]
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
                              keras.layers.Conv2D(32, 3, strides=2, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(10)], name="tiny_pixel_cnn")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.astype("float32") / 255.0, labels, epochs=3, batch_size=50, verbose=0)
    return model


def _accuracy(model, images, labels):
    return float((model.predict(images, verbose=0).argmax(-1) == labels).mean())


@pytest.mark.parametrize("norm, epsilon, step_size, targeted", [
    ("linf", 0.3, 0.05, False), ("linf", 0.1, 0.02, True), ("l2", 2.0, 0.4, False), ("l2", 1.5, 0.3, True)])
def test_pgd_equals_arts_projected_gradient_descent_on_the_same_model(norm, epsilon, step_size, targeted):
    model = _trained_model()
    images, labels = _digits()
    labels = (labels + 3) % 10 if targeted else labels
    ours = pgd(model, images, labels, epsilon, step_size, 10, norm=norm, targeted=targeted, batch_size=20)
    theirs = art_pgd(model, images, labels, epsilon, step_size, 10, norm=norm, targeted=targeted, batch_size=20)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    moved = np.abs(ours - images).max((1, 2, 3)) if norm == "linf" else np.sqrt(((ours - images) ** 2).sum((1, 2, 3)))
    assert moved.max() > epsilon / 2  # the attack moved


def test_pgd_stays_in_the_ball_and_the_pixel_range_and_breaks_the_model():
    model, (images, labels) = _trained_model(), _digits()
    clean = _accuracy(model, images, labels)
    linf = pgd(model, images, labels, 0.3, 0.05, 20)
    assert np.abs(linf - images).max() <= 0.3 + 1e-6 and linf.min() >= 0 and linf.max() <= 1
    l2 = pgd(model, images, labels, 2.0, 0.5, 20, norm="l2")
    assert np.sqrt(((l2 - images) ** 2).sum((1, 2, 3))).max() <= 2.0 + 1e-4
    assert clean > 0.85 and _accuracy(model, linf, labels) < 0.1
    one_step = fgsm(model, images, labels, 0.3)
    assert np.allclose(np.abs(one_step - images)[np.abs(one_step - images) > 1e-6].max(), 0.3, atol=1e-6)
    assert _accuracy(model, linf, labels) <= _accuracy(model, one_step, labels) < clean


def test_targeted_pgd_reaches_its_targets():
    model, (images, labels) = _trained_model(), _digits()
    targets = (labels + 1) % 10
    adversarial = pgd(model, images, targets, 0.3, 0.05, 20, targeted=True)
    assert _accuracy(model, adversarial, targets) > 0.8


def test_random_start_is_seeded_and_differs_from_the_clean_start():
    model, (images, labels) = _trained_model(), _digits(16)
    first = Attack.pgd(0.1, 0.02, 3, random_start=True, seed=1)(model, images, labels)
    again = Attack.pgd(0.1, 0.02, 3, random_start=True, seed=1)(model, images, labels)
    plain = Attack.pgd(0.1, 0.02, 3)(model, images, labels)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - plain).max() > 1e-3 and np.abs(first - images).max() <= 0.1 + 1e-6


def test_robust_accuracy_reports_clean_and_attacked_accuracy():
    model, data = _trained_model(), _digits()
    result = robust_accuracy(model, data, Attack.pgd(0.3, 0.05, 10))
    assert result["clean_accuracy"] == pytest.approx(_accuracy(model, *data))
    assert result["robust_accuracy"] < 0.1 and result["examples"] == 48 and result["images_per_second"] > 0
    assert result["attack"] == "PGD-10 linf eps=0.3"
    zero = robust_accuracy(model, data, Attack.pgd(0.0, 0.05, 3))  # a zero budget changes nothing
    assert zero["robust_accuracy"] == zero["clean_accuracy"]


def test_with_normalization_puts_the_normalisation_in_front():
    inner = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    images = _digits(4)[0]
    wrapped = with_normalization(inner, mean=(0.1307 * 255,), std=(0.3081 * 255,))
    expected = inner.predict((images - 0.1307) / 0.3081, verbose=0)
    np.testing.assert_allclose(wrapped.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arguments, message", [
    (dict(epsilon=-0.1), "epsilon=-0.1: must be >= 0"),
    (dict(epsilon=8.0), r"larger than the \[0, 1\] pixel range"),
    (dict(step_size=-0.01), "step_size=-0.01: must be > 0"),
    (dict(step_size=0.0), "step_size=0.0: must be > 0"),
    (dict(steps=0), "steps=0: an attack needs at least 1 gradient step"),
    (dict(images_scale=255.0), r"outside the \[0, 1\] pixel range.*with_normalization"),
    (dict(norm="l1"), "norm='l1': unknown"),
])
def test_bad_attack_arguments_fail_naming_the_fix(arguments, message):
    model, (images, labels) = _trained_model(), _digits(4)
    call = dict(epsilon=0.3, step_size=0.05, steps=5, norm="linf")
    scale = arguments.pop("images_scale", 1.0)
    call.update(arguments)
    with pytest.raises(ValueError, match=message):
        pgd(model, images * scale, labels, call["epsilon"], call["step_size"], call["steps"], norm=call["norm"])


def test_models_without_logits_and_mismatched_labels_are_refused():
    images, labels = _digits(4)
    softmax = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match=r"outputs probabilities \(softmax\), not logits"):
        pgd(softmax, images, labels, 0.1, 0.01, 2)
    inputs = keras.Input((28, 28, 1))
    features = keras.layers.Flatten()(inputs)
    two_heads = keras.Model(inputs, {"logits": keras.layers.Dense(10)(features)})
    with pytest.raises(ValueError, match="returns dict outputs"):
        pgd(two_heads, images, labels, 0.1, 0.01, 2)
    with pytest.raises(ValueError, match="labels of shape"):
        pgd(_trained_model(), images, labels[:2], 0.1, 0.01, 2)
    with pytest.raises(ValueError, match=r"labels span \[.*\] but the model has 10 classes"):
        pgd(_trained_model(), images, labels + 10, 0.1, 0.01, 2)
