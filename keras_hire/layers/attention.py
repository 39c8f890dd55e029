"""Multi-head self-attention of ViT/DeiT (and CaiT's talking-heads variant) with <=4-D tensors."""

import keras
from keras import ops

from keras_hire.layers.initializers import trunc_normal


def _init():
    """Linear/conv kernels: timm's trunc_normal(std=0.02), zero biases; fresh instances per layer."""
    return dict(kernel_initializer=trunc_normal(0.02), bias_initializer="zeros")


def split_heads(x, num_heads):
    """(batch, tokens, heads * head_dim) -> (batch, heads, tokens, head_dim)."""
    _, length, width = x.shape
    x = ops.reshape(x, (-1, length, num_heads, width // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))


def merge_heads(x):
    """(batch, heads, tokens, head_dim) -> (batch, tokens, heads * head_dim)."""
    _, heads, length, head_dim = x.shape
    return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, length, heads * head_dim))


@keras.saving.register_keras_serializable(package="keras_hire")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention over tokens, returning the output and the attention probabilities.

    Computes what timm's `Attention` (ViT/DeiT, and Aug-ViT's official `Attention`) computes:
    `softmax(q k^T / sqrt(head_dim)) v`, then an output projection. With `talking_heads=True` it
    computes timm's `TalkingHeadAttn` (CaiT): the logits are mixed across heads by `proj_l`
    before the softmax and the probabilities by `proj_w` after it.

    The projections are three Dense layers `q`, `k`, `v` instead of one fused `qkv` followed by
    a 5-D reshape and `qkv[0]` indexing, so every tensor is at most 4-D
    (`(batch, heads, tokens, head_dim)`) and TFLite delegates (XNNPACK, GPU) take every op. The
    converter splits timm's fused `qkv` weights into the three. (One wide GEMM and a SPLIT
    measured 5% slower on XNNPACK for DeiT-S than the three GEMMs: the split copies the tokens.)

    Args:
        dim: int, the token width; a multiple of `num_heads`.
        num_heads: int, the number of heads.
        qkv_bias: bool, whether q, k and v have biases.
        talking_heads: bool, CaiT's head-mixing projections `proj_l` and `proj_w`.
        attention_dropout: float, dropout on the attention probabilities.
        dropout: float, dropout after the output projection.
        num_queries: int or None. None (default): every token queries (square attention). An int
            `n`: only the first `n` tokens query, while keys and values come from every token
            ("rectangular attention" of patch slimming, 2106.02852); the output then has `n` tokens.

    Call returns `(output, attention)`: `output` has the input's shape (`num_queries` tokens when
    set), `attention` is `(batch, num_heads, queries, tokens)`, the matrix that multiplies `v`
    (after `proj_w` with talking heads).

    Example:
    ```python
    layer = keras_hire.layers.MultiHeadSelfAttention(dim=384, num_heads=6)
    y, attention = layer(keras.random.normal((2, 197, 384)))  # (2, 197, 384), (2, 6, 197, 197)
    ```
    """

    def __init__(self, dim, num_heads, qkv_bias=True, talking_heads=False, attention_dropout=0.0, dropout=0.0,
                 num_queries=None, **kwargs):
        super().__init__(**kwargs)
        if num_queries is not None and int(num_queries) < 1:
            raise ValueError(
                f"MultiHeadSelfAttention num_queries must be None (every token) or >= 1; received {num_queries}."
            )
        self.num_queries = None if num_queries is None else int(num_queries)
        if self.num_queries is not None and type(self).call is not MultiHeadSelfAttention.call and not getattr(
                type(self), "handles_num_queries", False):
            # A subclass with its own call (e.g. a fake-quantized one) would silently attend square.
            raise ValueError(
                f"{type(self).__name__} '{self.name}' overrides call and does not handle num_queries="
                f"{self.num_queries} (a slimmed ViT's rectangular attention). Fix: apply it to an unslimmed "
                f"model, or make its call select the first num_queries tokens for q and set "
                f"handles_num_queries = True."
            )
        if int(num_heads) < 1 or int(dim) % int(num_heads):
            raise ValueError(
                f"MultiHeadSelfAttention needs dim divisible by num_heads >= 1; received dim={dim}, "
                f"num_heads={num_heads}."
            )
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.qkv_bias = bool(qkv_bias)
        self.talking_heads = bool(talking_heads)
        self.attention_dropout = float(attention_dropout)
        self.dropout = float(dropout)
        self.scale = (self.dim // self.num_heads) ** -0.5

        def dense(units, name, use_bias=True):
            return keras.layers.Dense(units, use_bias=use_bias, name=name, dtype=self.dtype_policy, **_init())

        self.q = dense(self.dim, "q", self.qkv_bias)
        self.k = dense(self.dim, "k", self.qkv_bias)
        self.v = dense(self.dim, "v", self.qkv_bias)
        self.proj = dense(self.dim, "proj")
        if self.talking_heads:
            self.proj_l = dense(self.num_heads, "proj_l")
            self.proj_w = dense(self.num_heads, "proj_w")
        self.attn_drop = keras.layers.Dropout(self.attention_dropout, dtype=self.dtype_policy)
        self.proj_drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"MultiHeadSelfAttention(dim={self.dim}) received tokens of shape {input_shape}.")
        if self.num_queries is not None and input_shape[1] is not None and self.num_queries > input_shape[1]:
            raise ValueError(
                f"MultiHeadSelfAttention '{self.name}' has num_queries={self.num_queries} but received only "
                f"{input_shape[1]} tokens; num_queries must be at most the number of tokens."
            )
        for layer in (self.q, self.k, self.v, self.proj):
            layer.build(input_shape)
        if self.talking_heads:
            self.proj_l.build((None, None, None, self.num_heads))
            self.proj_w.build((None, None, None, self.num_heads))

    def call(self, x, training=None):
        queries = x if self.num_queries is None else x[:, :self.num_queries]
        q = split_heads(self.q(queries) * self.scale, self.num_heads)  # the converter folds the scale into q
        k = ops.transpose(split_heads(self.k(x), self.num_heads), (0, 1, 3, 2))
        v = split_heads(self.v(x), self.num_heads)
        attention = self._probabilities(ops.matmul(q, k), training)  # (batch, heads, queries, tokens)
        y = merge_heads(ops.matmul(attention, v))
        return self.proj_drop(self.proj(y), training=training), attention

    def _probabilities(self, logits, training):
        """Softmax of the logits (with talking heads: mixed across heads before and after), then dropout."""
        if self.talking_heads:
            logits = self._mix_heads(self.proj_l, logits)
        attention = ops.softmax(logits, axis=-1)
        if self.talking_heads:
            attention = self._mix_heads(self.proj_w, attention)
        return self.attn_drop(attention, training=training)

    @staticmethod
    def _mix_heads(dense, x):
        # Heads move to the last axis for a Dense over heads, then back: all 4-D.
        return ops.transpose(dense(ops.transpose(x, (0, 2, 3, 1))), (0, 3, 1, 2))

    def compute_output_shape(self, input_shape):
        batch, length, dim = input_shape
        queries = length if self.num_queries is None else self.num_queries
        return (batch, queries, dim), (batch, self.num_heads, queries, length)

    def get_config(self):
        # num_queries only when set, so the configs of unslimmed models stay as they were.
        slimmed = {} if self.num_queries is None else {"num_queries": self.num_queries}
        return {
            **super().get_config(),
            **slimmed,
            "dim": self.dim,
            "num_heads": self.num_heads,
            "qkv_bias": self.qkv_bias,
            "talking_heads": self.talking_heads,
            "attention_dropout": self.attention_dropout,
            "dropout": self.dropout,
        }
