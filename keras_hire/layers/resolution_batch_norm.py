"""Resolution-aware BatchNorm (DRNet, arXiv 2106.02898): one set of statistics and affine
parameters per input resolution, selected per call, in front of convolutions shared by all."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class ResolutionBatchNorm(keras.layers.Layer):
    """BatchNorm over the last axis with `num_sets` independent sets; `index` picks one per call.

    Each set is what `keras.layers.BatchNormalization` holds (gamma, beta, moving mean and
    variance), stored as rows of `(num_sets, channels)` variables. In training only the chosen row
    of the moving statistics moves, and a call on an empty batch (no image of the batch was sent
    to this resolution) leaves it unchanged, so a set's statistics come from its own images only.

    Args:
        num_sets: the number of sets (the candidate resolutions, m).
        epsilon, momentum: as in `keras.layers.BatchNormalization` (torch's eps 1e-5, momentum 0.1).

    Call arguments:
        x: a channels-last tensor.
        index: a Python int in `[0, num_sets)`, the set to use (fixed when the graph is built).
        training: batch statistics and moving-average updates when True.

    Example:
    ```python
    norm = keras_hire.layers.ResolutionBatchNorm(3)
    y224, y112 = norm(x224, index=0), norm(x112, index=2)  # the same layer, two statistics sets
    ```
    """

    def __init__(self, num_sets, epsilon=1e-5, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if int(num_sets) < 1:
            raise ValueError(f"ResolutionBatchNorm num_sets must be >= 1 (one per resolution); received {num_sets}.")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"ResolutionBatchNorm momentum must be in [0, 1); received {momentum}.")
        self.num_sets = int(num_sets)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"ResolutionBatchNorm needs a known channel count; received shape {input_shape}.")
        shape = (self.num_sets, int(channels))
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", name="moving_mean",
                                           trainable=False, autocast=False)
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", name="moving_variance",
                                               trainable=False, autocast=False)

    def call(self, x, index=0, training=False):
        if not isinstance(index, int) or not 0 <= index < self.num_sets:
            raise ValueError(f"ResolutionBatchNorm '{self.name}': index must be a Python int in "
                             f"[0, {self.num_sets}); received {index!r}.")
        gamma, beta = self.gamma[index], self.beta[index]
        values = ops.cast(x, "float32")
        if training:
            axes = tuple(range(len(x.shape) - 1))
            count = ops.cast(ops.size(values) // values.shape[-1], "float32")
            safe = ops.maximum(count, 1.0)  # an empty batch would divide by zero
            mean = ops.sum(values, axis=axes) / safe
            variance = ops.sum(ops.square(values - mean), axis=axes) / safe
            self._update_row(self.moving_mean, index, mean, count)
            self._update_row(self.moving_variance, index, variance, count)
        else:
            mean, variance = self.moving_mean[index], self.moving_variance[index]
        scale = ops.cast(gamma, "float32") * ops.rsqrt(variance + self.epsilon)
        shift = ops.cast(beta, "float32") - mean * scale
        return ops.cast(values * scale + shift, x.dtype)

    def _update_row(self, variable, index, value, count):
        """Moves row `index` of `variable` towards `value` (only when the batch was not empty)."""
        seen = ops.cast(count > 0, "float32")
        row = ops.one_hot(index, self.num_sets, dtype="float32")[:, None]
        step = (1.0 - self.momentum) * seen * row * (value[None, :] - variable)
        variable.assign(variable + step)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_sets": self.num_sets, "epsilon": self.epsilon,
                "momentum": self.momentum}
