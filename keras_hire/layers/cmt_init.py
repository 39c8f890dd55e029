"""CMT's official conv initialisers in Keras terms (linear layers use `initializers.trunc_normal`).

Each call returns a fresh instance: an unseeded Keras initializer instance gives the same values
to every layer that shares it."""

import keras


def conv_initializer():
    """`kaiming_normal_(mode="fan_out")` for a regular conv kernel (fan_out = kh * kw * filters)."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def depthwise_initializer(channels):
    """`kaiming_normal_(mode="fan_out")` for a depthwise kernel, as torch counts it.

    torch takes fan_out = channels * kh * kw for a grouped conv's `(channels, 1, kh, kw)` weight,
    where Keras takes kh * kw for `(kh, kw, channels, 1)`; the scale makes up the difference.
    """
    return keras.initializers.VarianceScaling(2.0 / int(channels), "fan_out", "untruncated_normal")
