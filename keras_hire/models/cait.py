"""CaiT (Touvron et al., arXiv 2103.17239): LayerScale, talking-heads attention, class-attention stage."""

import keras

from keras_hire.layers import (
    ClassAttention,
    ClassToken,
    DropPath,
    LayerNorm,
    LayerScale,
    MultiHeadSelfAttention,
    PositionEmbedding,
    ScaledAdd,
    TokenSlice,
)
from keras_hire.layers.initializers import trunc_normal
from keras_hire.models.backbone import validate_rates
from keras_hire.models.registry import family_info, register_variant
from keras_hire.models.token_sets import SlimmedOrder, check_keep, keep_sets
from keras_hire.models.vit import TokenBackbone, check_transformer_args, mlp, patch_embedding, patch_grid

# timm's configurations (timm/models/cait.py).
CAIT_CONFIGS = {
    "cait_s24": dict(patch_size=16, embed_dim=384, depth=24, num_heads=8, layer_scale_init=1e-5),
}

def _init():
    """Linear/conv kernels: timm's trunc_normal(std=0.02), zero biases; fresh instances per layer."""
    return dict(kernel_initializer=trunc_normal(0.02), bias_initializer="zeros")


@keras.saving.register_keras_serializable(package="keras_hire")
class CaiT(TokenBackbone):
    """The CaiT family: patch blocks with LayerScale and talking heads, then class attention.

    The patch tokens (with a learned position embedding, no class token) pass `depth` blocks
    `x + DropPath(gamma_1 * TalkingHeadsMSA(LN(x)))`, `x + DropPath(gamma_2 * MLP(LN(x)))`.
    Then a class token is prepended and `class_attention_depth` blocks update only it:
    `cls + gamma_1 * ClassAttention(LN([cls, x]))`, `cls + gamma_2 * MLP(LN(cls))`. The classifier
    reads the normalised class token. This is the manifold-distillation teacher (CaiT-S24).

    Layer names follow timm's (`blocks.{i}.attn.proj_l`, `blocks.{i}.gamma_1`,
    `blocks_token_only.{j}.attn.q`, ...), so timm's state_dicts load by rule.

    Args:
        patch_size: int, the patch side; the input height and width must be multiples of it.
        embed_dim: int, the token width.
        depth: int, patch (self-attention) blocks.
        num_heads: int, attention heads; `embed_dim` must be a multiple of it.
        mlp_ratio: float, MLP hidden width / `embed_dim` (both stages).
        qkv_bias: bool, biases in the q, k, v projections.
        class_attention_depth: int, class-attention blocks (timm's `depth_token_only`).
        layer_scale_init: float, initial LayerScale value (1e-5 for S24).
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`, multiples of `patch_size`.
        include_top: whether to add the classifier; without it the model returns the final
            normalised tokens `(batch, 1 + patches, embed_dim)`, class token first.
        drop_path_rate: stochastic depth of every patch block (constant, as timm's CaiT);
            the class-attention blocks have none.
        dropout: dropout after the position embedding, the attention projections and in the MLPs.
        layer_norm_epsilon: float, 1e-6 as in timm.
        keep: None (every patch block computes every patch), or patch slimming's (2106.02852)
            static sets for the patch blocks: one sorted list of patch indices (row-major, no class
            token in this stage) per patch block, nested (`keep[l]` a subset of `keep[l-1]`), none
            empty. Patch block `l` computes the patches `keep[l]` (its keys and values come from
            `keep[l-1]`, all patches for block 0); class attention reads the patches the last
            patch block kept. See `VisionTransformer`'s `keep` and
            `keras_hire.methods.slimming.slim`.
        name: model name.

    Intermediates (`model.intermediate_model()`, see `TokenBackbone`): `"block_{i}"` are the
    patch tokens after patch block `i` (no class token: `model.num_prefix_tokens == 0`),
    `"attn_{i}"` their talking-heads attention (after `proj_w`); `"cls_block_{j}"` is the
    sequence `[cls, patches]` after class-attention block `j`, `"cls_attn_{j}"` its attention
    `(batch, heads, 1, 1 + patches)`. With `keep` they hold the kept patches, in sorted order.

    Example:
    ```python
    teacher = keras_hire.models.CaiTS24()
    taps = teacher.intermediate_model([f"block_{i}" for i in (0, 1, 2, 3, 20, 21, 22, 23)])
    ```
    """

    def __init__(
        self,
        patch_size=16,
        embed_dim=384,
        depth=24,
        num_heads=8,
        mlp_ratio=4.0,
        qkv_bias=True,
        class_attention_depth=2,
        layer_scale_init=1e-5,
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        drop_path_rate=0.0,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
        keep=None,
        name="cait",
        **kwargs,
    ):
        family = type(self).__name__
        image_shape, grid = check_transformer_args(family, input_shape, patch_size, embed_dim, depth, num_heads,
                                                num_classes, include_top)
        validate_rates(family, drop_path_rate=drop_path_rate, dropout=dropout)
        if int(class_attention_depth) < 1:
            raise ValueError(
                f"{family}: class_attention_depth must be at least 1 (the class token is only read after it); "
                f"received class_attention_depth={class_attention_depth}."
            )
        norm = dict(epsilon=layer_norm_epsilon)
        num_patches = grid[0] * grid[1]
        keep = check_keep(family, keep, int(depth), num_patches, {},
                          f"{num_patches} patches; CaiT's patch blocks have no class token")
        slimming = SlimmedOrder(keep, num_patches)

        inputs = keras.Input(image_shape, name="images")
        x = patch_embedding(inputs, patch_size, embed_dim)
        x = PositionEmbedding(grid, embed_dim, num_prefix_tokens=0, name="pos_embed")(x)
        x = keras.layers.Dropout(dropout, name="pos_drop")(x)
        x = slimming.reorder(x, name="slim.order")

        intermediates, pyramid = {}, {}
        for i in range(depth):
            prefix = f"blocks.{i}"
            num_queries = slimming.num_queries(i)
            y = LayerNorm(name=f"{prefix}.norm1", **norm)(x)
            y, attention = MultiHeadSelfAttention(
                embed_dim, num_heads, qkv_bias=qkv_bias, talking_heads=True, dropout=dropout,
                num_queries=num_queries, name=f"{prefix}.attn"
            )(y)
            if num_queries is not None:
                x = TokenSlice(0, num_queries, name=f"{prefix}.keep")(x)
            x = _residual(x, y, embed_dim, layer_scale_init, drop_path_rate, f"{prefix}.gamma_1", f"{prefix}.add1")
            y = LayerNorm(name=f"{prefix}.norm2", **norm)(x)
            y = mlp(y, embed_dim, mlp_ratio, dropout, name=f"{prefix}.mlp")
            x = _residual(x, y, embed_dim, layer_scale_init, drop_path_rate, f"{prefix}.gamma_2", f"{prefix}.add2")
            intermediates[f"block_{i}"] = slimming.sorted_tokens(x, i, name=f"{prefix}.sorted")
            intermediates[f"attn_{i}"] = slimming.sorted_attention(attention, i, name=f"{prefix}.attn_sorted")
            if slimming.keeps_all(i):
                pyramid[f"block_{i}"] = patch_grid(intermediates[f"block_{i}"], 0, grid, name=f"{prefix}.grid")

        patches = x
        x = ClassToken(embed_dim, name="cls_token")(patches)
        for j in range(class_attention_depth):
            prefix = f"blocks_token_only.{j}"
            cls = TokenSlice(0, 1, name=f"{prefix}.cls")(x)
            y = LayerNorm(name=f"{prefix}.norm1", **norm)(x)
            y, attention = ClassAttention(embed_dim, num_heads, qkv_bias=qkv_bias, dropout=dropout,
                                          name=f"{prefix}.attn")(y)
            cls = _residual(cls, y, embed_dim, layer_scale_init, 0.0, f"{prefix}.gamma_1", f"{prefix}.add1")
            y = LayerNorm(name=f"{prefix}.norm2", **norm)(cls)
            y = mlp(y, embed_dim, mlp_ratio, dropout, name=f"{prefix}.mlp")
            cls = _residual(cls, y, embed_dim, layer_scale_init, 0.0, f"{prefix}.gamma_2", f"{prefix}.add2")
            x = keras.layers.Concatenate(axis=1, name=f"{prefix}.concat")([cls, patches])
            # Class attention is permutation invariant in the patches: only the intermediates are re-sorted.
            intermediates[f"cls_block_{j}"] = slimming.sorted_tokens(x, depth - 1, name=f"{prefix}.sorted", offset=1)
            intermediates[f"cls_attn_{j}"] = slimming.sorted_attention(attention, depth, name=f"{prefix}.attn_sorted",
                                                                       offset=1)

        x = LayerNorm(name="norm", **norm)(x)
        intermediates["norm"] = slimming.sorted_tokens(x, depth - 1, name="norm.sorted", offset=1)
        if not include_top:
            x = intermediates["norm"]
        if include_top:
            x = TokenSlice(0, squeeze=True, name="pool")(x)
            x = keras.layers.Dense(num_classes, name="head", **_init())(x)
            intermediates["logits"] = x
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)

        self.intermediate_outputs = intermediates
        self.num_prefix_tokens = 0
        self.keep_config(locals())

    # Constructor arguments that get_config returns besides name and input_shape, and their types.
    config_keys = dict(patch_size=int, embed_dim=int, depth=int, num_heads=int, mlp_ratio=float, qkv_bias=bool,
                       class_attention_depth=int, layer_scale_init=float, num_classes=int, include_top=bool,
                       drop_path_rate=float, dropout=float, layer_norm_epsilon=float, keep=keep_sets)


def _residual(x, branch, dim, init_value, drop_path_rate, gamma_name, add_name):
    """`x + DropPath(gamma * branch)`, with the LayerScale named as timm's `gamma_1`/`gamma_2` parameter."""
    branch = LayerScale(dim, init_value, name=gamma_name)(branch)
    branch = DropPath(drop_path_rate, name=f"{gamma_name}.drop_path")(branch)
    return ScaledAdd(1.0, name=add_name)([x, branch])


# timm's cait_s24_224: evaluated without a crop (crop_pct 1.0), ImageNet statistics.
CaiTS24 = register_variant(CaiT, "cait_s24", "CaiTS24", CAIT_CONFIGS["cait_s24"],
                           family_info("2103.17239", crop_fraction=1.0, checkpoint="cait_s24_224.fb_dist_in1k",
                                       input_divisor=16))
