"""`pu_loss` against a numpy transcription of the released `MPULoss_V2.forward`
(littleSunlxy/FedPU-torch, modules/loss.py), statement by statement, on random inputs."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hire.methods.federated import check_priors, labelled_cross_entropy, pu_loss, pu_loss_terms
from keras_hire.methods.federated.pu_loss import masked_pu_terms


def released_mpu_loss_v2(outputs, labels, priorlist, indexlist, pu_weight):
    """The released forward in float64 numpy; `indexlist` is the length-C one-hot the client passes."""
    num_class = outputs.shape[1]
    shifted = outputs - outputs.max(1, keepdims=True)
    outputs_soft = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    eps = 1e-6
    p_mask = labels <= num_class - 1
    labels_p, outputs_p, outputs_p_soft = labels[p_mask], outputs[p_mask], outputs_soft[p_mask]
    outputs_u_soft = outputs_soft[labels > num_class - 1]
    pu_loss_value = 0.0
    pu3 = (-np.log(1 - outputs_u_soft + eps) * indexlist).sum() / max(1, len(outputs_u_soft)) / len(indexlist)
    pu_loss_value += pu3
    if num_class > len(indexlist):  # never true: indexlist has C entries
        raise AssertionError("unreachable in the released code")
    label_onehot_p = np.zeros((len(labels_p), num_class * 2))
    label_onehot_p[np.arange(len(labels_p)), labels_p] = 1
    label_onehot_p = label_onehot_p[:, :num_class]
    log_res = -np.log(1 - outputs_p_soft * label_onehot_p + eps)
    pu2 = -(log_res * priorlist).sum() / max(1, len(outputs_p))
    pu_loss_value += pu2
    log_soft = outputs_p - outputs_p.max(1, keepdims=True)
    log_soft = log_soft - np.log(np.exp(log_soft).sum(1, keepdims=True))
    crossloss = -log_soft[np.arange(len(labels_p)), labels_p].mean()
    return pu_loss_value * pu_weight + crossloss, pu_loss_value * pu_weight, crossloss


def _random_case(seed, num_classes, batch):
    rng = np.random.RandomState(seed)
    logits = (rng.randn(batch, num_classes) * rng.uniform(0.5, 4)).astype(np.float32)
    positives = sorted(rng.choice(num_classes, rng.randint(1, num_classes + 1), replace=False).tolist())
    labelled = rng.rand(batch) < 0.4
    labelled[0], labelled[1] = True, False  # at least one of each (the released CE of no sample is NaN)
    labels = np.where(labelled, rng.choice(positives, batch), num_classes + rng.randint(0, num_classes, batch))
    priors = rng.dirichlet(np.ones(num_classes)).astype(np.float32)
    return logits, labels.astype(np.int64), priors, positives, float(rng.uniform(0.1, 2.0))


@pytest.mark.parametrize("seed,num_classes,batch", [(0, 10, 64), (1, 10, 7), (2, 3, 33), (3, 5, 500), (4, 2, 9)])
def test_pu_loss_equals_the_released_mpu_loss_v2(seed, num_classes, batch):
    logits, labels, priors, positives, weight = _random_case(seed, num_classes, batch)
    onehot = np.isin(np.arange(num_classes), positives).astype(np.float64)
    expected = released_mpu_loss_v2(logits.astype(np.float64), labels, priors.astype(np.float64), onehot, weight)
    terms = pu_loss_terms(logits, labels, priors, positives, pu_weight=weight)
    got = [float(terms[k]) for k in ("loss", "pu", "ce")]
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    assert float(pu_loss(tf.constant(logits), tf.constant(labels), priors, positives, weight)) == pytest.approx(
        expected[0], rel=2e-5)


def test_the_traced_masked_form_matches_and_differentiates():
    logits, labels, priors, positives, weight = _random_case(7, 10, 40)
    mask = np.isin(np.arange(10), positives).astype(np.float32)
    variable = tf.Variable(logits)

    @tf.function
    def traced(labels_tensor):
        with tf.GradientTape() as tape:
            loss = masked_pu_terms(variable, labels_tensor, tf.constant(priors), tf.constant(mask), weight)["loss"]
        return loss, tape.gradient(loss, variable)

    loss, gradient = traced(tf.constant(labels))
    assert float(loss) == pytest.approx(float(pu_loss(logits, labels, priors, positives, weight)), rel=1e-6)
    assert np.all(np.isfinite(gradient.numpy())) and np.abs(gradient.numpy()).sum() > 0


def test_terms_hold_their_values_at_the_edges():
    priors = np.full(4, 0.25, np.float32)
    logits = np.zeros((3, 4), np.float32)  # p = 1/4 everywhere
    unlabelled_only = pu_loss_terms(logits, np.array([4, 5, 7]), priors, [0, 2])
    # ce = 0 without labelled samples (the released code gives NaN); pu3 = 2 * -log(3/4 + eps) / 4
    assert float(unlabelled_only["ce"]) == 0.0
    assert float(unlabelled_only["loss"]) == pytest.approx(2 * -np.log(0.75 + 1e-6) / 4, rel=1e-5)
    labelled_only = pu_loss_terms(logits, np.array([0, 2, 2]), priors, [0, 2])
    pu2 = -(0.25 * -np.log(0.75 + 1e-6) + 0.75 * -np.log(1 + 1e-6))  # label class + the eps of the others
    assert float(labelled_only["pu"]) == pytest.approx(pu2, rel=1e-4)
    assert float(labelled_only["ce"]) == pytest.approx(np.log(4), rel=1e-6)


def test_labelled_cross_entropy_is_the_released_ploss():
    logits, labels, _, _, _ = _random_case(5, 10, 50)
    keep = labels < 10
    expected = -np.mean(tf.nn.log_softmax(logits[keep]).numpy()[np.arange(keep.sum()), labels[keep]])
    assert float(labelled_cross_entropy(logits, labels)) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("priors,message", [
    (np.full(9, 1 / 9), "9 entries but the model has 10 classes"),
    (np.full(10, 0.2), "sum to 2.0000, not 1"),
    (np.r_[-0.1, np.full(9, 1.1 / 9)], "negative or non-finite"),
])
def test_bad_priors_are_refused(priors, message):
    logits, labels, _, positives, _ = _random_case(0, 10, 8)
    with pytest.raises(ValueError, match=message):
        pu_loss(logits, labels, priors, positives)


def test_bad_positive_classes_and_labels_are_refused():
    logits, labels, priors, _, _ = _random_case(0, 10, 8)
    with pytest.raises(ValueError, match=r"\[10\] outside \[0, 10\)"):
        pu_loss(logits, labels, priors, [3, 10])
    with pytest.raises(ValueError, match="repeats a class"):
        pu_loss(logits, labels, priors, [3, 3])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 20\)"):
        pu_loss(logits, np.r_[labels[:-1], 20], priors, [3])
    assert check_priors(np.r_[np.full(9, 0.1), 0.095], 10).dtype == np.float32  # the released rounding passes
