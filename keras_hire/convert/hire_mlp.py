"""Conversion rule for the Hire module: the official region-channel order is `c * p + i`."""

import numpy as np

from keras_hire.convert.rules import Target, layer_targets, register_rule
from keras_hire.layers import HireModule


@register_rule(HireModule)
def _hire_module(prefix, layer):
    dim, p = layer.dim, layer.region_size

    def region_input(array):  # (hidden, dim * p, 1, 1), [o, c*p + i] -> (1, 1, p * dim, hidden), [i*dim + c, o]
        hidden = array.shape[0]
        array = np.reshape(array, (hidden, dim, p)).transpose(2, 1, 0)
        return np.reshape(array, (1, 1, p * dim, hidden))

    def region_output(array):  # (dim * p, hidden, 1, 1), [c*p + i, o] -> (1, 1, hidden, p * dim), [o, i*dim + c]
        hidden = array.shape[1]
        array = np.reshape(array, (dim, p, hidden)).transpose(2, 1, 0)
        return np.reshape(array, (1, 1, hidden, p * dim))

    def region_bias(array):  # [c*p + i] -> [i*dim + c]
        return np.reshape(array, (dim, p)).T.reshape(-1)

    targets = {}
    for branch in ("h", "w"):
        first = getattr(layer, f"mlp_{branch}1")
        second = getattr(layer, f"mlp_{branch}2")
        targets[f"{prefix}.mlp_{branch}1.weight"] = Target(first.kernel, region_input)
        targets.update(layer_targets(f"{prefix}.mlp_{branch}1_norm", getattr(layer, f"mlp_{branch}1_norm")))
        targets[f"{prefix}.mlp_{branch}2.weight"] = Target(second.kernel, region_output)
        targets[f"{prefix}.mlp_{branch}2.bias"] = Target(second.bias, region_bias)
    targets.update(layer_targets(f"{prefix}.mlp_c", layer.mlp_c))
    targets.update(layer_targets(f"{prefix}.reweight.fc1", layer.reweight_fc1))
    targets.update(layer_targets(f"{prefix}.reweight.fc2", layer.reweight_fc2))
    targets.update(layer_targets(f"{prefix}.proj", layer.proj))
    return targets
