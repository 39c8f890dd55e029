"""Learned token and position embeddings of vision transformers (ViT, DeiT, CaiT)."""

import keras
from keras import ops

from keras_hire.layers.initializers import trunc_normal


@keras.saving.register_keras_serializable(package="keras_hire")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token (class or distillation token) to a token sequence.

    Holds a `(1, 1, dim)` variable `token`, broadcast over the batch: `[token, x_1, ..., x_N]`.
    DeiT's distilled variants apply it twice (distillation token, then class token) to get
    `[cls, dist, patches...]`, the order of timm's `VisionTransformerDistilled`.

    Args:
        dim: int, the token width; must equal the input's last axis.

    Example:
    ```python
    tokens = keras.random.normal((2, 196, 384))
    x = keras_hire.layers.ClassToken(384)(tokens)  # (2, 197, 384)
    ```
    """

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"ClassToken dim must be a positive int; received dim={dim}.")
        self.dim = int(dim)

    def build(self, input_shape):
        if input_shape[-1] != self.dim:
            raise ValueError(f"ClassToken(dim={self.dim}) received tokens of shape {input_shape}.")
        self.token = self.add_weight(shape=(1, 1, self.dim), initializer=trunc_normal(0.02), name="token")

    def call(self, x):
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, self.dim))
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package="keras_hire")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned absolute position embedding to `num_prefix_tokens + grid_h * grid_w` tokens.

    The variable `embedding` has shape `(1, num_prefix_tokens + grid_h * grid_w, dim)`, laid out
    like timm's `pos_embed`: the prefix (class/distillation) tokens first, then the patch grid in
    row-major order. A model built for another input size has another grid; the converter
    (`keras_hire.convert.vit.resize_position_embedding`) resamples checkpoints bicubically.

    Args:
        grid_size: `(grid_h, grid_w)`, the patch grid of the input size the model is built for.
        dim: int, the token width.
        num_prefix_tokens: int, leading tokens with their own embedding (1 for ViT, 2 for
            distilled DeiT, 0 for CaiT, whose class token joins after the patch blocks).

    Example:
    ```python
    x = keras.random.normal((2, 197, 384))
    x = keras_hire.layers.PositionEmbedding((14, 14), 384, num_prefix_tokens=1)(x)
    ```
    """

    def __init__(self, grid_size, dim, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        grid_size = tuple(int(g) for g in grid_size)
        if len(grid_size) != 2 or min(grid_size) < 1:
            raise ValueError(f"PositionEmbedding grid_size must be (grid_h, grid_w) >= 1; received {grid_size}.")
        if int(num_prefix_tokens) < 0:
            raise ValueError(f"PositionEmbedding num_prefix_tokens must be >= 0; received {num_prefix_tokens}.")
        self.grid_size = grid_size
        self.dim = int(dim)
        self.num_prefix_tokens = int(num_prefix_tokens)
        self.num_tokens = self.num_prefix_tokens + grid_size[0] * grid_size[1]

    def build(self, input_shape):
        if tuple(input_shape[1:]) != (self.num_tokens, self.dim):
            raise ValueError(
                f"PositionEmbedding for {self.num_tokens} tokens of width {self.dim} received tokens of "
                f"shape {input_shape}."
            )
        self.embedding = self.add_weight(
            shape=(1, self.num_tokens, self.dim), initializer=trunc_normal(0.02), name="embedding"
        )

    def call(self, x):
        return x + ops.cast(self.embedding, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "grid_size": self.grid_size,
            "dim": self.dim,
            "num_prefix_tokens": self.num_prefix_tokens,
        }
