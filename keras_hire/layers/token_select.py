"""Selecting a constant list of tokens with static slices and small concatenations (no GATHER)."""

import keras
from keras import ops

# XNNPACK's CONCATENATION takes at most 5 inputs (a 6-input one stays on the CPU kernels, measured
# with TF 2.21 / LiteRT); longer selections are concatenated in a tree of concatenations of <= 5.
MAX_CONCAT_INPUTS = 5


def contiguous_runs(indices):
    """`[(start, stop), ...]`: the runs of consecutive values of `indices`, in order."""
    runs = []
    for index in indices:
        if runs and index == runs[-1][1]:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    return [tuple(run) for run in runs]


def concatenate_tree(tensors, axis):
    """Concatenates `tensors` in order with concatenations of at most `MAX_CONCAT_INPUTS` inputs."""
    while len(tensors) > 1:
        tensors = [
            tensors[i] if len(tensors[i:i + MAX_CONCAT_INPUTS]) == 1
            else ops.concatenate(tensors[i:i + MAX_CONCAT_INPUTS], axis=axis)
            for i in range(0, len(tensors), MAX_CONCAT_INPUTS)
        ]
    return tensors[0]


@keras.saving.register_keras_serializable(package="keras_hire")
class StaticTokenSelect(keras.layers.Layer):
    """`take(x, indices, axis)` for a constant index list, exported as slices and concatenations.

    The indices are cut into runs of consecutive values; each run is one static (unit-stride)
    slice and the runs are concatenated in a tree of at most 5-input concatenations, so a TFLite
    export has static shapes and only STRIDED_SLICE and CONCATENATION ops, which XNNPACK takes
    (it takes no GATHER). Patch slimming uses it to reorder and select tokens.

    Args:
        indices: sequence of ints, the positions to take along `axis`, in output order (repeats
            allowed); each must be below the axis length.
        axis: int >= 1, the axis to select along (1: tokens of `(batch, tokens, dim)`; 2 or 3:
            rows or columns of `(batch, heads, rows, columns)` attention maps).

    Example:
    ```python
    tokens = keras.random.normal((2, 17, 32))
    x = keras_hire.layers.StaticTokenSelect([0, 3, 4, 5, 9])(tokens)  # (2, 5, 32): 3 slices, 1 concat
    ```
    """

    def __init__(self, indices, axis=1, **kwargs):
        super().__init__(**kwargs)
        indices = [int(i) for i in indices]
        if not indices or min(indices) < 0:
            raise ValueError(f"StaticTokenSelect needs a non-empty list of indices >= 0; received {indices}.")
        if int(axis) < 1:
            raise ValueError(f"StaticTokenSelect selects along a non-batch axis (>= 1); received axis={axis}.")
        self.indices = tuple(indices)
        self.axis = int(axis)

    def build(self, input_shape):
        length = input_shape[self.axis]
        if length is not None and max(self.indices) >= length:
            raise ValueError(
                f"StaticTokenSelect '{self.name}' takes index {max(self.indices)} along axis {self.axis}, but the "
                f"input {tuple(input_shape)} has only {length} there."
            )

    def call(self, x):
        length = x.shape[self.axis]
        if self.indices == tuple(range(length)):
            return x
        prefix = (slice(None),) * self.axis
        parts = [x[prefix + (slice(start, stop),)] for start, stop in contiguous_runs(self.indices)]
        return concatenate_tree(parts, axis=self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.axis] = len(self.indices)
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "indices": list(self.indices), "axis": self.axis}
