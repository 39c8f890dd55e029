"""Class attention of CaiT (arXiv 2103.17239): only the class token queries the sequence."""

import keras
from keras import ops

from keras_hire.layers.attention import merge_heads, split_heads
from keras_hire.layers.initializers import trunc_normal


def _init():
    """Linear/conv kernels: timm's trunc_normal(std=0.02), zero biases; fresh instances per layer."""
    return dict(kernel_initializer=trunc_normal(0.02), bias_initializer="zeros")


@keras.saving.register_keras_serializable(package="keras_hire")
class ClassAttention(keras.layers.Layer):
    """Attention from the first token (the class token) to all tokens, as timm's `ClassAttn`.

    The query is the projected first token; keys and values are projected from every token,
    class token included. Every tensor is at most 4-D.

    Args:
        dim: int, the token width; a multiple of `num_heads`.
        num_heads: int, the number of heads.
        qkv_bias: bool, whether q, k and v have biases.
        attention_dropout: float, dropout on the attention probabilities.
        dropout: float, dropout after the output projection.

    Call returns `(class_token, attention)`: the updated class token `(batch, 1, dim)` and the
    attention probabilities `(batch, num_heads, 1, tokens)`.

    Example:
    ```python
    layer = keras_hire.layers.ClassAttention(dim=384, num_heads=8)
    cls, attention = layer(keras.random.normal((2, 197, 384)))  # (2, 1, 384), (2, 8, 1, 197)
    ```
    """

    def __init__(self, dim, num_heads, qkv_bias=True, attention_dropout=0.0, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) < 1 or int(dim) % int(num_heads):
            raise ValueError(
                f"ClassAttention needs dim divisible by num_heads >= 1; received dim={dim}, num_heads={num_heads}."
            )
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.qkv_bias = bool(qkv_bias)
        self.attention_dropout = float(attention_dropout)
        self.dropout = float(dropout)
        self.scale = (self.dim // self.num_heads) ** -0.5

        def dense(name, use_bias=True):
            return keras.layers.Dense(self.dim, use_bias=use_bias, name=name, dtype=self.dtype_policy, **_init())

        self.q = dense("q", self.qkv_bias)
        self.k = dense("k", self.qkv_bias)
        self.v = dense("v", self.qkv_bias)
        self.proj = dense("proj")
        self.attn_drop = keras.layers.Dropout(self.attention_dropout, dtype=self.dtype_policy)
        self.proj_drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"ClassAttention(dim={self.dim}) received tokens of shape {input_shape}.")
        for layer in (self.q, self.k, self.v, self.proj):
            layer.build(input_shape)

    def call(self, x, training=None):
        q = split_heads(self.q(x[:, :1]) * self.scale, self.num_heads)  # (batch, heads, 1, head_dim)
        k = ops.transpose(split_heads(self.k(x), self.num_heads), (0, 1, 3, 2))
        v = split_heads(self.v(x), self.num_heads)
        attention = ops.softmax(ops.matmul(q, k), axis=-1)
        attention = self.attn_drop(attention, training=training)
        y = merge_heads(ops.matmul(attention, v))
        return self.proj_drop(self.proj(y), training=training), attention

    def compute_output_shape(self, input_shape):
        batch, length, dim = input_shape
        return (batch, 1, dim), (batch, self.num_heads, 1, length)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_heads": self.num_heads,
            "qkv_bias": self.qkv_bias,
            "attention_dropout": self.attention_dropout,
            "dropout": self.dropout,
        }
