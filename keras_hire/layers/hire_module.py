"""The Hire module of Hire-MLP (arXiv 2108.13341): hierarchical rearrangement token mixing."""

import keras
from keras import ops

from keras_hire.layers.initializers import trunc_normal
from keras_hire.layers.static_shift import circular_indices, take_static


@keras.saving.register_keras_serializable(package="keras_hire")
class HireModule(keras.layers.Layer):
    """Token mixing by inner-region and cross-region rearrangement, on NHWC feature maps.

    Computes what the official `HireMLP` module computes with its default circular modes:
    the height branch shifts rows by `+step` (cross-region), pads the bottom circularly up to a
    multiple of `region_size`, concatenates each region's `region_size` rows along channels,
    mixes them with a bottleneck MLP (1x1 conv without bias, BatchNorm, ReLU, 1x1 conv), and
    restores, crops and shifts back by `-step`; the width branch does the same along columns;
    a channel branch is a 1x1 conv. A split-attention MLP on the pooled sum weighs the three
    branches (softmax over branches per channel), and a 1x1 projection follows.

    Every tensor stays at most 4-D (the batch is folded into the region axis) and shifts are
    static slices, so TFLite exports use builtin ops only and fit the GPU delegate.

    Channels of a rearranged region are ordered `region_index * dim + channel` here, where the
    official code orders them `channel * region_size + region_index`;
    `keras_hire.convert.load_pytorch_weights` permutes the official weights accordingly.

    Args:
        dim: int, the number of input (and output) channels; at least 4.
        region_size: int, rows (columns) per region, the official `pixel`.
        step: int, the cross-region shift `s`; 0 disables the shift.
        dropout: float, dropout after the projection.

    Example:
    ```python
    layer = keras_hire.layers.HireModule(dim=64, region_size=4, step=2)
    y = layer(keras.random.normal((2, 56, 56, 64)))  # (2, 56, 56, 64)
    ```
    """

    def __init__(self, dim, region_size=2, step=0, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 4:
            raise ValueError(f"HireModule needs dim >= 4 (it mixes in dim // 4 channels); received dim={dim}.")
        if int(region_size) < 1:
            raise ValueError(f"HireModule region_size must be a positive int; received region_size={region_size}.")
        if int(step) < 0:
            raise ValueError(f"HireModule step must be >= 0; received step={step}.")
        self.dim = int(dim)
        self.region_size = int(region_size)
        self.step = int(step)
        self.dropout = float(dropout)
        hidden, region_dim = self.dim // 2, self.dim * self.region_size

        def conv(filters, name, use_bias=True):
            return keras.layers.Conv2D(filters, 1, use_bias=use_bias, kernel_initializer=trunc_normal(),
                                       name=name, dtype=self.dtype_policy)

        def norm(name):
            return keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name, dtype=self.dtype_policy)

        self.mlp_h1 = conv(hidden, "mlp_h1", use_bias=False)
        self.mlp_h1_norm = norm("mlp_h1_norm")
        self.mlp_h2 = conv(region_dim, "mlp_h2")
        self.mlp_w1 = conv(hidden, "mlp_w1", use_bias=False)
        self.mlp_w1_norm = norm("mlp_w1_norm")
        self.mlp_w2 = conv(region_dim, "mlp_w2")
        self.mlp_c = conv(self.dim, "mlp_c")
        self.reweight_fc1 = keras.layers.Dense(
            self.dim // 4, kernel_initializer=trunc_normal(), name="reweight_fc1", dtype=self.dtype_policy)
        self.reweight_fc2 = keras.layers.Dense(
            self.dim * 3, kernel_initializer=trunc_normal(), name="reweight_fc2", dtype=self.dtype_policy)
        self.proj = conv(self.dim, "proj")
        self.proj_drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        _, height, width, channels = input_shape
        if channels != self.dim:
            raise ValueError(f"HireModule(dim={self.dim}) received an input with {channels} channels.")
        if height is None or width is None:
            raise ValueError(
                f"HireModule needs static height and width (its regions depend on them); got {input_shape}."
            )
        p, hidden, region_dim = self.region_size, self.dim // 2, self.dim * self.region_size
        padded_h, padded_w = _ceil_to(height, p), _ceil_to(width, p)
        self.mlp_h1.build((None, padded_h // p, width, region_dim))
        self.mlp_h1_norm.build((None, padded_h // p, width, hidden))
        self.mlp_h2.build((None, padded_h // p, width, hidden))
        self.mlp_w1.build((None, height, padded_w // p, region_dim))
        self.mlp_w1_norm.build((None, height, padded_w // p, hidden))
        self.mlp_w2.build((None, height, padded_w // p, hidden))
        self.mlp_c.build(input_shape)
        self.reweight_fc1.build((None, self.dim))
        self.reweight_fc2.build((None, self.dim // 4))
        self.proj.build(input_shape)

    def call(self, x, training=None):
        _, height, width, channels = x.shape
        p = self.region_size
        padded_h, padded_w = _ceil_to(height, p), _ceil_to(width, p)

        # Height branch: shift down by `step`, pad the bottom circularly, group p rows into channels.
        h = take_static(x, circular_indices(height, self.step, padded_h), axis=1)
        h = ops.reshape(h, (-1, p, width, channels))
        h = ops.transpose(h, (0, 2, 1, 3))
        h = ops.reshape(h, (-1, padded_h // p, width, p * channels))
        h = self.mlp_h2(ops.relu(self.mlp_h1_norm(self.mlp_h1(h), training=training)))
        h = ops.reshape(h, (-1, width, p, channels))
        h = ops.transpose(h, (0, 2, 1, 3))
        h = ops.reshape(h, (-1, padded_h, width, channels))
        h = take_static(h, circular_indices(height, -self.step), axis=1)  # crop, then shift back

        # Width branch: in NHWC the p columns of a region are already adjacent to the channels.
        w = take_static(x, circular_indices(width, self.step, padded_w), axis=2)
        w = ops.reshape(w, (-1, height, padded_w // p, p * channels))
        w = self.mlp_w2(ops.relu(self.mlp_w1_norm(self.mlp_w1(w), training=training)))
        w = ops.reshape(w, (-1, height, padded_w, channels))
        w = take_static(w, circular_indices(width, -self.step), axis=2)

        c = self.mlp_c(x)

        # Split attention: per-channel softmax over the three branches of the pooled sum.
        a = ops.mean(h + w + c, axis=(1, 2))
        a = self.reweight_fc2(ops.gelu(self.reweight_fc1(a), approximate=False))
        a = ops.softmax(ops.reshape(a, (-1, channels, 3)), axis=-1)
        # Branch-major, then unit-stride slices: XNNPACK rejects slices that drop an axis.
        a = ops.transpose(a, (0, 2, 1))
        weights = [ops.reshape(a[:, k : k + 1, :], (-1, 1, 1, channels)) for k in range(3)]
        x = h * weights[0] + w * weights[1] + c * weights[2]
        return self.proj_drop(self.proj(x), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "region_size": self.region_size,
            "step": self.step,
            "dropout": self.dropout,
        }


def _ceil_to(size, multiple):
    return -(-size // multiple) * multiple
