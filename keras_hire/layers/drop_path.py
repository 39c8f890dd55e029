"""Stochastic depth per sample (DropPath), as in timm."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class DropPath(keras.layers.Layer):
    """Drops the whole residual branch of a sample with probability `rate` while training.

    Kept samples are scaled by `1 / (1 - rate)`, so inference is the identity.

    Args:
        rate: float in [0, 1), the probability of dropping a sample's branch.
        seed: optional int seed.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"DropPath rate must be in [0, 1); received rate={rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if rate > 0 else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype))
        return inputs / keep * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
