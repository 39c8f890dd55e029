"""Sum of residual branches times a constant (Aug-ViT's `(x + ... ) * 3/4`)."""

import keras


@keras.saving.register_keras_serializable(package="keras_hire")
class ScaledAdd(keras.layers.Layer):
    """Adds a list of same-shaped tensors, in order, and multiplies the sum by `scale`.

    Args:
        scale: float; 1.0 gives a plain `Add`.

    Example:
    ```python
    y = keras_hire.layers.ScaledAdd(0.75)([x, attention, shortcut_a, shortcut_b])
    ```
    """

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        total = inputs[0]
        for tensor in inputs[1:]:
            total = total + tensor
        return total if self.scale == 1.0 else total * self.scale

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
