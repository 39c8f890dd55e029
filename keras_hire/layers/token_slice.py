"""Selecting tokens along the sequence axis (class token, distillation token, patch tokens)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class TokenSlice(keras.layers.Layer):
    """Returns tokens `start:stop` of a `(batch, tokens, dim)` sequence, or token `start` alone.

    Args:
        start: int, the first token.
        stop: int or None, one past the last token (None: to the end).
        squeeze: bool, return token `start` as `(batch, dim)` (then `stop` must be None).

    Example:
    ```python
    tokens = keras.random.normal((2, 197, 384))
    cls = keras_hire.layers.TokenSlice(0, squeeze=True)(tokens)  # (2, 384)
    patches = keras_hire.layers.TokenSlice(1)(tokens)  # (2, 196, 384)
    ```
    """

    def __init__(self, start, stop=None, squeeze=False, **kwargs):
        super().__init__(**kwargs)
        if int(start) < 0 or (stop is not None and int(stop) <= int(start)):
            raise ValueError(f"TokenSlice needs 0 <= start < stop; received start={start}, stop={stop}.")
        if squeeze and stop is not None:
            raise ValueError(f"TokenSlice(squeeze=True) selects one token; received stop={stop} (use None).")
        self.start = int(start)
        self.stop = None if stop is None else int(stop)
        self.squeeze = bool(squeeze)

    def call(self, x):
        if self.squeeze:
            # A range slice and a reshape: XNNPACK does not take shrink-axis STRIDED_SLICEs (`x[:, i]`).
            return ops.reshape(x[:, self.start:self.start + 1], (-1, x.shape[-1]))
        return x[:, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        batch, length, dim = input_shape
        if self.squeeze:
            return (batch, dim)
        if length is None:
            return (batch, None, dim)
        stop = length if self.stop is None else min(self.stop, length)
        return (batch, stop - self.start, dim)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "squeeze": self.squeeze}
