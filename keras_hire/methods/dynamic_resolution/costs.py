"""DRNet's FLOPs constraint (Eq. 6-8) and the per-resolution MAC costs it is computed from."""

from keras import ops

from keras_hire.utils.macs import count_macs


def flops_loss(choices, costs, target):
    """`max(0, (mean over the batch of choices @ costs - target) / (max(costs) - min(costs)))`.

    The paper's L_reg: a one-sided hinge on the expected cost of the chosen resolutions,
    normalised by the cost range. `choices` is `(batch, m)` (the one-hot choices, or any
    weights), `costs` the `m` costs and `target` the allowed average, in the same unit (MACs).
    Returns a float32 scalar. With equal costs the range is 0 and the loss is 0.
    """
    choices = ops.cast(choices, "float32")
    costs = ops.cast(ops.convert_to_tensor(costs), "float32")
    expected = ops.mean(ops.sum(choices * costs[None, :], axis=-1))
    spread = ops.max(costs) - ops.min(costs)
    excess = (expected - ops.cast(target, "float32")) / ops.maximum(spread, 1e-12)
    return ops.where(spread > 0, ops.maximum(excess, 0.0), 0.0)


def resolution_costs(classifier, predictor=None):
    """MACs of classifying one image at each resolution, plus the predictor's (the paper counts it).

    Args:
        classifier: a `DRResNet`.
        predictor: the resolution predictor model, or `None` for the classifier alone.

    Returns:
        A list of ints, one per `classifier.resolutions` entry.
    """
    extra = count_macs(predictor) if predictor is not None else 0
    return [count_macs(classifier.classifier_at(i)) + extra for i in range(len(classifier.resolutions))]


def check_target(target, costs, name="target_macs"):
    """Raises a ValueError when `target` is outside `[min(costs), max(costs)]`."""
    low, high = min(costs), max(costs)
    if not low <= float(target) <= high:
        raise ValueError(
            f"{name}={float(target):.4g} is outside [{low:.4g}, {high:.4g}], the MACs per image of the smallest and "
            f"largest resolution (predictor included): no mix of resolutions can meet it. Pick a value in that range, "
            f"e.g. {0.5 * (low + high):.4g}.")
    return float(target)
