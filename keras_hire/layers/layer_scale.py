"""LayerScale (CaiT, arXiv 2103.17239): a learned per-channel scale of a residual branch."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class LayerScale(keras.layers.Layer):
    """Multiplies the last axis by a learned vector `gamma`, initialised to `init_value`.

    Args:
        dim: int, the channel count.
        init_value: float, the initial value of every entry (1e-5 for CaiT-S24).

    Example:
    ```python
    y = keras_hire.layers.LayerScale(384, init_value=1e-5)(keras.random.normal((2, 196, 384)))
    ```
    """

    def __init__(self, dim, init_value=1e-5, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"LayerScale dim must be a positive int; received dim={dim}.")
        self.dim = int(dim)
        self.init_value = float(init_value)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"LayerScale(dim={self.dim}) received an input of shape {input_shape}.")
        self.gamma = self.add_weight(
            shape=(self.dim,), initializer=keras.initializers.Constant(self.init_value), name="gamma"
        )

    def call(self, x):
        return x * ops.cast(self.gamma, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "init_value": self.init_value}
