"""Initializers of the official PyTorch code, as fresh Keras initializer instances."""

import keras


def trunc_normal(stddev=0.02):
    """timm's `trunc_normal_(std=stddev)` for conv and linear kernels.

    Call it once per layer: an unseeded Keras initializer instance returns the same values on
    every call, so a shared instance would give every layer of a shape identical weights.
    """
    return keras.initializers.TruncatedNormal(stddev=stddev)
