"""CMT's lightweight multi-head self-attention (LMHSA) on NHWC maps, with at most 4-D tensors."""

import keras
from keras import ops

from keras_hire.layers.cmt_init import depthwise_initializer
from keras_hire.layers.initializers import trunc_normal


@keras.saving.register_keras_serializable(package="keras_hire")
class LightweightAttention(keras.layers.Layer):
    """Multi-head self-attention whose keys and values come from a k x k stride-k reduced map.

    Computes what the official CMT `Attention` computes (qkv_bias=True, qk_ratio=1):
    `q = Linear(x)` on all `N = H * W` tokens; when `k > 1` the map is reduced by a k x k
    stride-k depthwise conv (with bias) and BatchNorm, giving `M = N / k^2` tokens, from which
    `K = Linear(x')`, `V = Linear(x')`; then
    `proj(softmax(q K^T * head_dim^-0.5 + B) V)` with the stage's relative position bias `B`
    of shape `[heads, N, M]` (see `RelativePositionBias`).

    Every tensor stays at most 4-D: heads are split as `(batch, N, heads, head_dim)` and
    transposed to `(batch, heads, N, head_dim)`, the logits are `(batch, heads, N, M)` (with one
    head, 3-D products and no transposes). The official 5-D `qkv` layout never appears, so
    TFLite exports fit XNNPACK and the GPU delegate. The logit scale is folded into the query
    projection's weights, so the file has no multiply over the `N x M` logits.

    Args:
        dim: int, input (and output) channels; a multiple of `num_heads`.
        num_heads: int, attention heads.
        kv_reduction: int, the key/value reduction `k` (official `sr_ratio`); 1 disables it.
        attention_dropout: float, dropout on the attention weights (official `attn_drop`).
        dropout: float, dropout after the projection (official `proj_drop`).

    Call arguments:
        inputs: list `[x, bias]`: `x` of shape `(batch, H, W, dim)` and the bias of shape
            `(num_heads, H * W, (H // k) * (W // k))`.
        training: bool, for the dropouts and the BatchNorm.

    Example:
    ```python
    bias = keras_hire.layers.RelativePositionBias(num_heads=2, kv_reduction=4)
    attention = keras_hire.layers.LightweightAttention(dim=64, num_heads=2, kv_reduction=4)
    x = keras.random.normal((1, 28, 28, 64))
    y = attention([x, bias(x)])  # (1, 28, 28, 64)
    ```
    """

    def __init__(self, dim, num_heads, kv_reduction=1, attention_dropout=0.0, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(dim) < 1 or int(dim) % int(num_heads):
            raise ValueError(
                f"LightweightAttention needs dim to be a positive multiple of num_heads; received "
                f"dim={dim}, num_heads={num_heads}."
            )
        if int(kv_reduction) < 1:
            raise ValueError(f"LightweightAttention needs kv_reduction >= 1; received kv_reduction={kv_reduction}.")
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.kv_reduction = int(kv_reduction)
        self.attention_dropout = float(attention_dropout)
        self.dropout = float(dropout)
        self.head_dim = self.dim // self.num_heads
        self.scale = self.head_dim**-0.5

        def dense(name):
            return keras.layers.Dense(
                self.dim, name=name, kernel_initializer=trunc_normal(0.02), dtype=self.dtype_policy
            )

        self.q = dense("q")
        self.k = dense("k")
        self.v = dense("v")
        self.proj = dense("proj")
        if self.kv_reduction > 1:
            self.sr = keras.layers.DepthwiseConv2D(
                self.kv_reduction, strides=self.kv_reduction, name="sr", dtype=self.dtype_policy,
                depthwise_initializer=depthwise_initializer(self.dim),
            )
            self.sr_norm = keras.layers.BatchNormalization(
                epsilon=1e-5, momentum=0.9, name="sr_norm", dtype=self.dtype_policy
            )
        else:
            self.sr = self.sr_norm = None
        self.attention_drop = keras.layers.Dropout(self.attention_dropout, dtype=self.dtype_policy)
        self.proj_drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        x_shape, bias_shape = input_shape
        _, height, width, channels = x_shape
        k = self.kv_reduction
        if channels != self.dim:
            raise ValueError(f"LightweightAttention(dim={self.dim}) received an input with {channels} channels.")
        if height is None or width is None or height % k or width % k:
            raise ValueError(
                f"LightweightAttention(kv_reduction={k}) needs a static feature map whose height and width "
                f"are multiples of {k}; got {tuple(x_shape)}."
            )
        expected = (self.num_heads, height * width, (height // k) * (width // k))
        if tuple(bias_shape) != expected:
            raise ValueError(
                f"LightweightAttention expects a relative position bias of shape {expected} for a "
                f"{height}x{width} map; got {tuple(bias_shape)}."
            )
        self.q.build(x_shape)
        kv_shape = x_shape
        if self.sr is not None:
            self.sr.build(x_shape)
            kv_shape = (x_shape[0], height // k, width // k, channels)
            self.sr_norm.build(kv_shape)
        self.k.build(kv_shape)
        self.v.build(kv_shape)
        self.proj.build(x_shape)

    def call(self, inputs, training=None):
        x, bias = inputs
        _, height, width, _ = x.shape
        heads, head_dim = self.num_heads, self.head_dim
        kv = x
        if self.sr is not None:
            kv = self.sr_norm(self.sr(x), training=training)
        n_kv = kv.shape[1] * kv.shape[2]

        q = self.q(x) * self.scale  # the converter folds the scale into the query weights
        key, value = self.k(kv), self.v(kv)
        if heads == 1:  # no head axis to move: 3-D products, no transposes
            q = ops.reshape(q, (-1, height * width, head_dim))
            key = ops.transpose(ops.reshape(key, (-1, n_kv, head_dim)), (0, 2, 1))
            value = ops.reshape(value, (-1, n_kv, head_dim))
        else:
            q = ops.transpose(ops.reshape(q, (-1, height * width, heads, head_dim)), (0, 2, 1, 3))
            key = ops.reshape(key, (-1, n_kv, heads, head_dim))
            key = ops.transpose(key, (0, 2, 3, 1))  # (batch, heads, head_dim, M)
            value = ops.reshape(value, (-1, n_kv, heads, head_dim))
            value = ops.transpose(value, (0, 2, 1, 3))  # (batch, heads, M, head_dim)
            bias = bias[None]

        weights = self.attention_drop(ops.softmax(ops.matmul(q, key) + bias, axis=-1), training=training)
        y = ops.matmul(weights, value)  # (batch, [heads,] N, head_dim)
        if heads > 1:
            y = ops.transpose(y, (0, 2, 1, 3))
        y = ops.reshape(y, (-1, height, width, self.dim))
        return self.proj_drop(self.proj(y), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "kv_reduction": self.kv_reduction,
            "attention_dropout": self.attention_dropout,
            "dropout": self.dropout,
        }
