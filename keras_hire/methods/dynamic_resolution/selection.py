"""Gumbel selection of one resolution per image (DRNet, Eq. 4-5): a hard one-hot choice with a
straight-through Gumbel-softmax gradient in training, the argmax without noise at inference."""

from keras import ops, random

_EPSILON = 1e-10  # as the official gumbelmodule.py: g = -log(eps - log(u + eps))


def gumbel_noise(shape, seed=None):
    """Standard Gumbel samples `-log(-log u)`, u ~ U(0, 1), kept finite at u = 0 and u = 1."""
    u = random.uniform(shape, seed=seed)
    return -ops.log(_EPSILON - ops.log(u + _EPSILON))


def gumbel_select(logits, training=False, temperature=1.0, seed=None):
    """One-hot resolution choices `(batch, m)` from the predictor's logits.

    Training: `h = one_hot(argmax(logits + g))` in the forward pass, and the gradient of
    `softmax((logits + g) / temperature)` in the backward pass (straight-through), so the loss
    reaches the predictor through the chosen branch. Inference: `one_hot(argmax(logits))`, no
    noise, so a given image always gets the same resolution (the MindSpore eval keeps the noise;
    we do not).

    Args:
        logits: `(batch, m)` predictor outputs (log-probabilities up to a constant).
        training: whether to sample (True) or take the argmax (False).
        temperature: the Gumbel-softmax temperature of the backward pass (> 0).
        seed: an int or a `keras.random.SeedGenerator` for the noise.
    """
    if temperature <= 0:
        raise ValueError(f"gumbel_select: temperature must be > 0; received {temperature}.")
    logits = ops.cast(logits, "float32")
    m = logits.shape[-1]
    if not training:
        return ops.one_hot(ops.argmax(logits, axis=-1), m, dtype="float32")
    noisy = logits + gumbel_noise(ops.shape(logits), seed=seed)
    soft = ops.softmax(noisy / temperature, axis=-1)
    hard = ops.one_hot(ops.argmax(noisy, axis=-1), m, dtype="float32")
    return hard + (soft - ops.stop_gradient(soft))  # exactly `hard` forward (soft - soft is 0)
