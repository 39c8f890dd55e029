"""CMT's inverted residual feed-forward network (IRFFN) on NHWC maps."""

import keras
from keras import ops

from keras_hire.layers.batch_norm_fold import batch_norm_affine, fold_into_pointwise
from keras_hire.layers.cmt_init import conv_initializer, depthwise_initializer
from keras_hire.layers.residual_depthwise import ResidualDepthwiseConv2D

_BN = dict(epsilon=1e-5, momentum=0.9)


@keras.saving.register_keras_serializable(package="keras_hire")
class InvertedResidualFFN(keras.layers.Layer):
    """Expand, depthwise 3x3 with a shortcut, project: the CMT feed-forward network.

    Computes what the official CMT `Mlp` computes:
    `h = BN(GELU(Conv1x1(x)))`, `h = BN(GELU(DWConv3x3(h) + h))`, `y = BN(Conv1x1(h))`; all
    convs have biases, the activation comes before each BatchNorm (so the BatchNorms cannot
    be folded into the preceding convs), and GELU is the exact (erf) form.

    At inference the graph is leaner with the same result: the depthwise shortcut is folded
    into the depthwise kernel (`ResidualDepthwiseConv2D`), the first BatchNorm's scale into that
    kernel too (its shift stays as one add), and the last two BatchNorms into the 1x1 output
    conv, so a TFLite file has three fewer element-wise passes over the expanded map.

    Args:
        dim: int, input (and output) channels.
        hidden_dim: int, the expanded width; the official value is `int(dim * mlp_ratio)`.
        dropout: float, dropout after the expansion and after the output (official `drop`).

    Example:
    ```python
    ffn = keras_hire.layers.InvertedResidualFFN(dim=64, hidden_dim=256)
    y = ffn(keras.random.normal((1, 28, 28, 64)))  # (1, 28, 28, 64)
    ```
    """

    def __init__(self, dim, hidden_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1 or int(hidden_dim) < 1:
            raise ValueError(
                f"InvertedResidualFFN needs positive dim and hidden_dim; received dim={dim}, hidden_dim={hidden_dim}."
            )
        self.dim = int(dim)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.conv1 = keras.layers.Conv2D(
            self.hidden_dim, 1, name="conv1", kernel_initializer=conv_initializer(), dtype=policy
        )
        self.conv1_norm = keras.layers.BatchNormalization(name="conv1_norm", dtype=policy, **_BN)
        self.proj = ResidualDepthwiseConv2D(
            3, name="proj", depthwise_initializer=depthwise_initializer(self.hidden_dim), dtype=policy
        )
        self.proj_norm = keras.layers.BatchNormalization(name="proj_norm", dtype=policy, **_BN)
        self.conv2 = keras.layers.Conv2D(self.dim, 1, name="conv2", kernel_initializer=conv_initializer(), dtype=policy)
        self.conv2_norm = keras.layers.BatchNormalization(name="conv2_norm", dtype=policy, **_BN)
        self.drop = keras.layers.Dropout(self.dropout, dtype=policy)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"InvertedResidualFFN(dim={self.dim}) received an input with {input_shape[-1]} channels.")
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
        self.conv1.build(input_shape)
        self.conv1_norm.build(hidden_shape)
        self.proj.build(hidden_shape)
        self.proj_norm.build(hidden_shape)
        self.conv2.build(hidden_shape)
        self.conv2_norm.build(input_shape)

    # QAT turns this off: the fold would bypass its fake-quantized convolutions at inference.
    fold_at_inference = True

    def call(self, x, training=None):
        h = keras.activations.gelu(self.conv1(x), approximate=False)
        if training or not self.fold_at_inference:
            h = self.drop(self.conv1_norm(h, training=training), training=training)
            h = keras.activations.gelu(self.proj(h), approximate=False)  # proj(h) = DWConv(h) + h
            return self.drop(self.conv2_norm(self.conv2(self.proj_norm(h, training=training)), training=training),
                             training=training)
        # Inference: the same maps in fewer passes. BN1(h) = s * (h + t / s), and zero padding of
        # that is zero padding of h + t / s, so s moves into the depthwise kernel (exactly).
        dtype = h.dtype  # the folds are computed in float32, then cast (mixed precision)
        scale, shift = batch_norm_affine(self.conv1_norm)
        scale = ops.where(ops.abs(scale) < 1e-12, 1e-12, scale)  # a zeroed channel stays finite
        kernel = ops.cast(self.proj.residual_kernel(), "float32") * ops.reshape(scale, (1, 1, -1, 1))
        h = h + ops.cast(shift / scale, dtype)
        h = ops.depthwise_conv(h, ops.cast(kernel, dtype), strides=1, padding="same") + self.proj.bias
        h = keras.activations.gelu(h, approximate=False)
        kernel, bias = fold_into_pointwise(
            self.conv2.kernel, self.conv2.bias,
            before=batch_norm_affine(self.proj_norm), after=batch_norm_affine(self.conv2_norm),
        )
        return ops.conv(h, ops.cast(kernel, dtype), strides=1, padding="valid") + ops.cast(bias, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "hidden_dim": self.hidden_dim, "dropout": self.dropout}
