"""The FedPU objective as released: `MPULoss_V2` of `littleSunlxy/FedPU-torch/modules/loss.py`.

Labels below `C` (the number of classes) are labelled positives; a label `C + y` is an
unlabelled sample whose true class `y` the client does not see. With p = softmax(logits),
m the client's positive-class indicator, pi its class priors and eps = 1e-6:

    ce  = cross-entropy over the labelled samples
    pu3 = sum_{x in U} sum_i m_i * -log(1 - p_i(x) + eps) / max(1, |U|) / C
    pu2 = -sum_{x in P} sum_j pi_j * -log(1 - p_j(x) * [j == y] + eps) / max(1, |P|)
    loss = ce + pu_weight * (pu3 + pu2)

Where the released code differs from the paper's risk (kept here, number for number):
- pu3 is divided by `len(indexlist)`, which is the length-C one-hot, so by C, not by |P_k|.
- The paper's positive-class risk for the classes a client does not label (`pu1`) sits behind
  `if C > len(indexlist)`, never true: it is dead code, and absent here.
- pu2 sums pi_j * -log(1 + eps) over the non-label classes j too (a ~1e-6 contribution), because
  the one-hot mask multiplies p before the log, not the log itself.
- No non-negativity correction (nnPU's max(0, .)) is applied to the U - pi P estimate.
One deliberate difference: a batch without labelled samples gets ce = 0 (the released
`CrossEntropyLoss` of an empty batch is NaN, which would poison the client's weights).
"""

import numpy as np
from keras import ops

EPSILON = 1e-6


def check_priors(priors, num_classes, where="priors"):
    """`priors` as a float32 array after checking its length, signs and sum (within 0.02 of one)."""
    values = np.asarray(priors, np.float64).reshape(-1)
    if values.shape[0] != num_classes:
        raise ValueError(f"{where} has {values.shape[0]} entries but the model has {num_classes} classes; "
                         f"give one prior per class (zeros for classes the client never holds).")
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"{where}={values.round(4).tolist()} has negative or non-finite entries; priors are "
                         "class fractions of the client's unlabelled data, in [0, 1].")
    # The released split computes priors from untruncated counts, so they sum to 1 only approximately.
    if abs(values.sum() - 1.0) > 0.02:
        raise ValueError(f"{where} sum to {values.sum():.4f}, not 1; priors are the class fractions of the "
                         "client's unlabelled data (see keras_hire.methods.federated.client_splits).")
    return values.astype(np.float32)


def positive_mask(positive_classes, num_classes):
    """The length-C 0/1 indicator of `positive_classes` (indices), after range and duplicate checks."""
    indices = [int(i) for i in np.asarray(positive_classes).reshape(-1)]
    bad = [i for i in indices if not 0 <= i < num_classes]
    if bad:
        raise ValueError(f"positive_classes={indices} has {bad} outside [0, {num_classes}); class indices "
                         f"of a {num_classes}-class model run from 0 to {num_classes - 1}.")
    if len(set(indices)) != len(indices):
        raise ValueError(f"positive_classes={indices} repeats a class; list each positive class once.")
    mask = np.zeros(num_classes, np.float32)
    mask[indices] = 1.0
    return mask


def _concrete(value):
    try:
        return ops.convert_to_numpy(value)
    except Exception:  # a symbolic tensor inside a traced function: checked where it was built
        return None


def pu_loss_terms(logits, labels, priors, positive_classes, pu_weight=1.0):
    """`{"loss", "pu", "ce"}`: the released objective and its two parts (`pu` already weighted)."""
    num_classes = int(logits.shape[-1])
    if _concrete(priors) is not None:
        priors = check_priors(_concrete(priors), num_classes)
    mask = positive_mask(positive_classes, num_classes)
    concrete_labels = _concrete(labels)
    if concrete_labels is not None and concrete_labels.size and (
            concrete_labels.min() < 0 or concrete_labels.max() >= 2 * num_classes):
        raise ValueError(f"labels must lie in [0, {2 * num_classes}): y < {num_classes} for a labelled sample "
                         f"of class y, {num_classes} + y for an unlabelled one; got values from "
                         f"{concrete_labels.min()} to {concrete_labels.max()}.")
    return masked_pu_terms(logits, labels, priors, mask, pu_weight)


def masked_pu_terms(logits, labels, priors, mask, pu_weight=1.0):
    """`pu_loss_terms` with the positive classes as a length-C 0/1 `mask` tensor and no input checks
    (for a traced training step that serves every client)."""
    num_classes = int(logits.shape[-1])
    mask = ops.cast(mask, "float32")
    logits = ops.cast(logits, "float32")
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    probs = ops.softmax(logits, axis=-1)
    labelled = ops.cast(labels < num_classes, "float32")
    unlabelled = 1.0 - labelled
    n_labelled, n_unlabelled = ops.sum(labelled), ops.sum(unlabelled)

    pu3 = ops.sum(ops.expand_dims(unlabelled, 1) * -ops.log(1.0 - probs + EPSILON) * mask)
    pu3 = pu3 / ops.maximum(1.0, n_unlabelled) / num_classes
    class_of_labelled = ops.where(labels < num_classes, labels, 0)
    onehot = ops.one_hot(class_of_labelled, num_classes) * ops.expand_dims(labelled, 1)
    log_res = -ops.log(1.0 - probs * onehot + EPSILON)
    pu2 = -ops.sum(ops.expand_dims(labelled, 1) * log_res * ops.cast(priors, "float32")) / ops.maximum(1.0, n_labelled)

    ce = labelled_cross_entropy(logits, labels)
    pu = (pu3 + pu2) * pu_weight
    return {"loss": ce + pu, "pu": pu, "ce": ce}


def pu_loss(logits, labels, priors, positive_classes, pu_weight=1.0):
    """The FedPU client objective of the released code (`MPULoss_V2`), a scalar.

    Args:
        logits: `(batch, C)` model outputs.
        labels: `(batch,)` ints: `y < C` for a labelled sample of class y, `C + y` for an
            unlabelled one (its true class y is never used).
        priors: length-C class fractions of the client's unlabelled data (sum 1).
        positive_classes: the client's labelled class indices, e.g. `[0, 3]`.
        pu_weight: weight of the PU terms (the released default 1).

    Example:
    ```python
    loss = pu_loss(model(x), labels, priors=client.priors, positive_classes=client.positive_classes)
    ```
    """
    return pu_loss_terms(logits, labels, priors, positive_classes, pu_weight)["loss"]


def labelled_cross_entropy(logits, labels):
    """The released `PLoss`: cross-entropy over the labelled samples (labels < C) only."""
    num_classes = int(logits.shape[-1])
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    labelled = ops.cast(labels < num_classes, "float32")
    picked = ops.sum(ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
                     * ops.one_hot(ops.where(labels < num_classes, labels, 0), num_classes), axis=-1)
    return -ops.sum(picked * labelled) / ops.maximum(1.0, ops.sum(labelled))
