"""Give a randomly initialised model's normalisation layers the non-trivial values trained ones have.

At initialisation every LayerNorm/BatchNorm is (nearly) the identity, and the TFLite converter
deletes identity multiplies and adds. A trained model keeps them, so timing an untrained file
would flatter it. Speed does not depend on the values otherwise.
"""

import numpy as np

_NORM_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


def perturb_normalization(model, seed=0):
    """Sets gamma ~ 1 + 0.1 N, beta and moving means ~ 0.1 N, moving variances ~ 1 + |0.1 N|.

    Acts on every variable named like a LayerNorm/BatchNorm one (found through `model.weights`,
    nested layers included); a LayerScale's `gamma` gets the same values, which changes no timing.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.path.split("/")[-1]
        if name not in _NORM_VARIABLES:
            continue
        noise = 0.1 * rng.standard_normal(variable.shape).astype(np.float32)
        base = 1.0 if name in ("gamma", "moving_variance") else 0.0
        variable.assign(base + (np.abs(noise) if name == "moving_variance" else noise))
    return model
