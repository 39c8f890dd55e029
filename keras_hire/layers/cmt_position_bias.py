"""CMT's learned relative position bias: one [heads, N, N/k^2] tensor per stage, resizable."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class RelativePositionBias(keras.layers.Layer):
    """Holds the attention-logit bias `B` of one CMT stage and returns it when called.

    CMT learns one bias of shape `[num_heads, N, M]` per stage (the official `relative_pos_a`
    ... `relative_pos_d`), where `N = H * W` query tokens of the stage's `H x W` map and
    `M = (H / k) * (W / k)` key/value tokens after the k x k stride-k reduction. Every block of
    the stage adds the same bias, so the model calls this layer once per stage and passes its
    output to each block's `LightweightAttention`: the variable lives in one place and is saved,
    trained and loaded once.

    The bias belongs to the grid it was built for. `load_resized_weights` (and
    `keras_hire.convert.load_pytorch_weights`) bring a bias of another resolution to this
    layer's grid with `resize_relative_position_bias`: bilinear over the query grid, then over
    the key/value grid, as keras_cv_attention_models' `BiasPositionalEmbedding.load_resized_weights`.

    Args:
        num_heads: int, attention heads of the stage.
        kv_reduction: int, the stage's key/value reduction `k` (official `sr_ratio`); the
            stage's height and width must be multiples of it.

    Call arguments:
        inputs: the stage's feature map `(batch, H, W, C)`; only its static `H, W` are used
            (they fix the bias shape at build time).

    Returns:
        The bias, shape `(num_heads, H * W, (H // k) * (W // k))`.

    Example:
    ```python
    bias_layer = keras_hire.layers.RelativePositionBias(num_heads=2, kv_reduction=4)
    bias = bias_layer(keras.random.normal((1, 28, 28, 92)))  # (2, 784, 49)
    ```
    """

    def __init__(self, num_heads, kv_reduction=1, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1:
            raise ValueError(f"RelativePositionBias needs num_heads >= 1; received num_heads={num_heads}.")
        if int(kv_reduction) < 1:
            raise ValueError(
                f"RelativePositionBias needs kv_reduction >= 1; received kv_reduction={kv_reduction}."
            )
        self.num_heads = int(num_heads)
        self.kv_reduction = int(kv_reduction)

    def build(self, input_shape):
        _, height, width, _ = input_shape
        k = self.kv_reduction
        if height is None or width is None or height % k or width % k:
            raise ValueError(
                f"RelativePositionBias(kv_reduction={k}) needs a static feature map whose height and "
                f"width are multiples of {k}; got {tuple(input_shape)}."
            )
        self.query_grid = (int(height), int(width))
        self.kv_grid = (int(height) // k, int(width) // k)
        shape = (self.num_heads, height * width, self.kv_grid[0] * self.kv_grid[1])
        # The official init: torch.randn (standard normal).
        self.bias = self.add_weight(
            shape=shape, initializer=keras.initializers.RandomNormal(stddev=1.0), name="bias"
        )

    def call(self, inputs):
        return ops.cast(self.bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        _, height, width, _ = input_shape
        k = self.kv_reduction
        return (self.num_heads, height * width, (height // k) * (width // k))

    def load_resized_weights(self, source):
        """Assigns a bias of any square grid (an array or another `RelativePositionBias`), resized.

        Args:
            source: array `(num_heads, n*n, m*m)` (e.g. an official `relative_pos_a`) or a built
                `RelativePositionBias` of the same `num_heads`.
        """
        array = source.bias if isinstance(source, RelativePositionBias) else source
        array = np.asarray(keras.ops.convert_to_numpy(array), np.float32)
        resized = resize_relative_position_bias(array, self.query_grid, self.kv_grid)
        if resized.shape != tuple(self.bias.shape):
            raise ValueError(
                f"Cannot load a relative position bias of shape {array.shape} into '{self.name}' of shape "
                f"{tuple(self.bias.shape)}: the number of heads differs."
            )
        self.bias.assign(resized)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "kv_reduction": self.kv_reduction}


def resize_relative_position_bias(array, query_grid, kv_grid, source_grids=None):
    """Resizes a CMT bias `[heads, Nq, Nkv]` to the query grid `query_grid` and the kv grid `kv_grid`.

    The query axis is reshaped to its 2-D grid and resized bilinearly (each key/value column
    as an image), then the key/value axis the same way (each query row as an image); the two
    resizes act on different axes, so their order does not matter. Bilinear here means
    half-pixel centres with `align_corners=False` and no antialiasing, i.e. exactly
    `tf.image.resize(method="bilinear")` as used by keras_cv_attention_models'
    `load_resized_weights`, and `torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)`, for upsampling and downsampling alike.

    Args:
        array: `(heads, Nq, Nkv)` numpy array.
        query_grid: target `(height, width)` of the query tokens.
        kv_grid: target `(height, width)` of the key/value tokens.
        source_grids: `((qh, qw), (kh, kw))` of `array`; by default both are taken as square
            (official checkpoints are trained on square images).

    Returns:
        `(heads, query_grid[0] * query_grid[1], kv_grid[0] * kv_grid[1])` float32 array.

    Raises:
        ValueError: the source grids are not given and `Nq` or `Nkv` is not a perfect square.
    """
    array = np.asarray(array, np.float32)
    if array.ndim != 3:
        raise ValueError(f"A CMT relative position bias is 3-D (heads, Nq, Nkv); got shape {array.shape}.")
    heads, n_query, n_kv = array.shape
    if source_grids is None:
        source_grids = (_square_grid(n_query, array.shape), _square_grid(n_kv, array.shape))
    (qh, qw), (kh, kw) = source_grids
    grid = array.reshape(heads, qh, qw, kh, kw)  # host-side numpy only; never in a model graph
    grid = _resize_axis(grid, 1, query_grid[0])
    grid = _resize_axis(grid, 2, query_grid[1])
    grid = _resize_axis(grid, 3, kv_grid[0])
    grid = _resize_axis(grid, 4, kv_grid[1])
    return grid.reshape(heads, query_grid[0] * query_grid[1], kv_grid[0] * kv_grid[1])


def _square_grid(tokens, shape):
    side = int(round(tokens**0.5))
    if side * side != tokens:
        raise ValueError(
            f"Cannot infer the grid of a relative position bias of shape {shape}: {tokens} tokens is "
            "not a square grid; pass source_grids=((qh, qw), (kh, kw))."
        )
    return side, side


def _resize_axis(array, axis, size):
    """Bilinear (half-pixel, clamped at the edges) resampling of one axis to `size`."""
    length = array.shape[axis]
    if length == size:
        return array
    source = (np.arange(size, dtype=np.float64) + 0.5) * (length / size) - 0.5
    source = np.clip(source, 0.0, length - 1)
    lower = np.floor(source).astype(np.int64)
    upper = np.minimum(lower + 1, length - 1)
    weight = source - lower
    matrix = np.zeros((size, length), np.float64)
    matrix[np.arange(size), lower] += 1.0 - weight
    matrix[np.arange(size), upper] += weight
    moved = np.moveaxis(array.astype(np.float64), axis, -1) @ matrix.T
    return np.moveaxis(moved, -1, axis).astype(np.float32)
