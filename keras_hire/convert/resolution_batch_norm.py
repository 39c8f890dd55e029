"""Conversion rule for ResolutionBatchNorm: a plain BatchNorm2d of a ResNet checkpoint initialises
every resolution's set (DRNet's stage 1 starts from a trained ResNet)."""

import numpy as np

from keras_hire.convert.rules import Target, register_rule
from keras_hire.layers import ResolutionBatchNorm


@register_rule(ResolutionBatchNorm)
def _resolution_batch_norm(prefix, layer):
    def every_set(array):  # (channels,) -> (num_sets, channels)
        return np.tile(np.asarray(array)[None, :], (layer.num_sets, 1))

    return {f"{prefix}.weight": Target(layer.gamma, every_set), f"{prefix}.bias": Target(layer.beta, every_set),
            f"{prefix}.running_mean": Target(layer.moving_mean, every_set),
            f"{prefix}.running_var": Target(layer.moving_variance, every_set)}
