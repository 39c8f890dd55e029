"""Give a randomly initialised model's normalisation layers the non-trivial values trained ones have.

At initialisation every LayerNorm/BatchNorm is (nearly) the identity, and the TFLite converter
deletes identity multiplies and adds. A trained model keeps them, so timing an untrained file
would flatter it. Speed does not depend on the values otherwise.
"""

import keras
import numpy as np


def perturb_normalization(model, seed=0):
    """Sets gamma ~ 1 + 0.1 N, beta and moving means ~ 0.1 N, moving variances ~ 1 + |0.1 N|."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, (keras.layers.LayerNormalization, keras.layers.BatchNormalization)):
            continue
        for variable in layer.weights:
            noise = 0.1 * rng.standard_normal(variable.shape).astype(np.float32)
            name = variable.path.split("/")[-1]
            base = 1.0 if name in ("gamma", "moving_variance") else 0.0
            variable.assign(base + (np.abs(noise) if name == "moving_variance" else noise))
    return model
