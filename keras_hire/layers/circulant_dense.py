"""Block-circulant dense layer of Aug-ViT (arXiv 2106.15941): the augmented-shortcut projection."""

import math

import keras
import numpy as np
from keras import ops


def circulant_index(in_features, out_features, num_blocks=4):
    """The official `index_matrix`: `(out, in)` positions into the flat circulant parameters.

    The weight is cut into `num_blocks x num_blocks` blocks (more along the longer side when
    in != out), block `(p, q)` is the circulant of its own vector `c_pq` of length `block`:
    `W[p*block + r, q*block + s] = c_pq[(r - s) mod block]` (scipy's `circulant`, whose first
    column is `c_pq`), stored flat at `(p * blocks_in + q) * block`.
    """
    smaller = min(in_features, out_features)
    block = smaller // num_blocks
    blocks_in = num_blocks * in_features // smaller
    rows = np.arange(out_features)
    cols = np.arange(in_features)
    r, s = rows[:, None] % block, cols[None, :] % block
    p, q = rows[:, None] // block, cols[None, :] // block
    return ((p * blocks_in + q) * block + (r - s) % block).astype(np.int64)


@keras.saving.register_keras_serializable(package="keras_hire")
class BlockCirculantDense(keras.layers.Layer):
    """A dense layer whose weight is block-circulant, as the official `Circulant_Linear`.

    Only the circulant vectors are parameters: `weight_list`, flat, of length
    `blocks_out * blocks_in * block` (with in = out = d and 4x4 blocks: `16 * d/4 = 4d`), plus
    a bias. The dense `(in, out)` kernel is materialised from them for the matmul, as the
    official code does with `weight_list[index_matrix]`; the gather indices are a constant, so
    once the weights are frozen (TFLite export) the kernel folds into a plain constant and the
    exported graph is a FULLY_CONNECTED, with no GATHER at run time.

    Args:
        units: int, output width.
        num_blocks: int, blocks along the smaller of the input and output widths (official
            `num_cir`, default 4); both widths must be multiples of it, and the larger width a
            multiple of the smaller one's block size.
        use_bias: bool.

    Example:
    ```python
    layer = keras_hire.layers.BlockCirculantDense(384)
    y = layer(keras.random.normal((2, 197, 384)))  # 1,920 parameters instead of 147,840
    ```
    """

    def __init__(self, units, num_blocks=4, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"BlockCirculantDense units must be a positive int; received units={units}.")
        if int(num_blocks) < 1 or int(units) % int(num_blocks):
            raise ValueError(
                f"BlockCirculantDense needs units divisible by num_blocks >= 1; received units={units}, "
                f"num_blocks={num_blocks}."
            )
        self.units = int(units)
        self.num_blocks = int(num_blocks)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        in_features = input_shape[-1]
        smaller = min(in_features, self.units)
        if smaller % self.num_blocks or max(in_features, self.units) % (smaller // self.num_blocks):
            raise ValueError(
                f"BlockCirculantDense(units={self.units}, num_blocks={self.num_blocks}) cannot tile an input "
                f"of width {in_features} with circulant blocks."
            )
        self.in_features = int(in_features)
        # The official init: kaiming_uniform(a=sqrt(5)) over a fan-in of in_features, i.e. U(+-1/sqrt(in)).
        bound = 1.0 / math.sqrt(self.in_features)
        index = circulant_index(self.in_features, self.units, self.num_blocks)
        self._kernel_index = np.ascontiguousarray(index.T).astype(np.int32)  # (in, out), Keras layout
        self.weight_list = self.add_weight(
            shape=(int(index.max()) + 1,), initializer=keras.initializers.RandomUniform(-bound, bound),
            name="weight_list",
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,), initializer=keras.initializers.RandomUniform(-bound, bound), name="bias"
            )

    @property
    def kernel(self):
        """The materialised dense `(in, out)` kernel."""
        return ops.take(self.weight_list, self._kernel_index, axis=0)

    def call(self, x):
        y = ops.matmul(x, ops.cast(self.kernel, x.dtype))
        if self.use_bias:
            y = y + ops.cast(self.bias, x.dtype)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_blocks": self.num_blocks, "use_bias": self.use_bias}
