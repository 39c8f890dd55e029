"""ViT (arXiv 2010.11929) and DeiT (arXiv 2012.12877), with Aug-ViT's augmented shortcuts (2106.15941)."""

import dataclasses

import keras

from keras_hire.layers import (
    BlockCirculantDense,
    ClassToken,
    DropPath,
    LayerNorm,
    MultiHeadSelfAttention,
    PositionEmbedding,
    ScaledAdd,
    TokenSlice,
)
from keras_hire.layers.initializers import trunc_normal
from keras_hire.models.backbone import Backbone, validate_head, validate_input_shape, validate_rates
from keras_hire.models.registry import family_info, register_variant
from keras_hire.models.token_sets import SlimmedOrder, check_keep, keep_sets
from keras_hire.utils.image_stats import INCEPTION_MEAN, INCEPTION_STD

# timm's configurations (timm/models/deit.py, vision_transformer.py); all use qkv_bias and mlp_ratio 4.
VIT_CONFIGS = {
    "deit_tiny": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "deit_small": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "deit_base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "deit_tiny_distilled": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3, distilled=True),
    "deit_small_distilled": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, distilled=True),
    "deit_base_distilled": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, distilled=True),
    "vit_base_patch16": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
}
# Aug-ViT's block modes (official augvit.py): None is the plain DeiT block; "linear"/"circulant" add one
# shortcut per sub-layer; "linear2"/"circulant2" add two GELU-activated ones and scale the sum by 3/4.
AUGMENTED_SHORTCUTS = (None, "linear", "circulant", "linear2", "circulant2")
_TWO_SHORTCUT_SCALE = 0.75

def _init():
    """Linear/conv kernels: timm's trunc_normal(std=0.02), zero biases; fresh instances per layer."""
    return dict(kernel_initializer=trunc_normal(0.02), bias_initializer="zeros")


class TokenBackbone(Backbone):
    """A `Backbone` over token sequences that also exposes every block's tokens and attention.

    `model.intermediate_outputs` is a dict of symbolic tensors, and `model.intermediate_model()`
    a `keras.Model` from the images to (a subset of) them:

    - `"block_{i}"`: the output tokens of block `i` (0-based, as the official `blocks.{i}`),
      `(batch, num_prefix_tokens + patches, dim)`, prefix (class/distillation) tokens first;
      `model.num_prefix_tokens` says how many to drop for patch-only losses.
    - `"attn_{i}"`: block `i`'s attention probabilities, `(batch, heads, tokens, tokens)`.
    - `"norm"`: the final normalised tokens; with a head, `"logits"` (and, for distilled DeiT,
      `"logits_cls"` and `"logits_dist"`, the two heads before averaging).

    The intermediate model shares the backbone's layers and weights, so it serves
    distillation (block tokens), quantization calibration and patch slimming (attention maps).
    """

    def intermediate_model(self, names=None):
        """A `keras.Model` from the images to the dict of `intermediate_outputs` named `names` (all if None)."""
        names = list(self.intermediate_outputs) if names is None else list(names)
        unknown = [n for n in names if n not in self.intermediate_outputs]
        if unknown:
            raise ValueError(
                f"Unknown intermediate output(s) {unknown} of '{self.name}'; "
                f"available: {', '.join(self.intermediate_outputs)}."
            )
        outputs = {n: self.intermediate_outputs[n] for n in names}
        return keras.Model(self.inputs[0], outputs, name=f"{self.name}_intermediates")


@keras.saving.register_keras_serializable(package="keras_hire")
class VisionTransformer(TokenBackbone):
    """The ViT/DeiT family, optionally with DeiT's distillation token and Aug-ViT's shortcuts.

    Images are cut into `patch_size` patches (a strided conv), a class token (and for
    `distilled=True` a distillation token) is prepended, a learned position embedding added,
    and `depth` pre-norm blocks (`x + DropPath(MSA(LN(x)))`, `x + DropPath(MLP(LN(x)))`) follow;
    the classifier reads the normalised class token. Distilled models have a second head on
    the distillation token and return the average of the two heads, as timm does in eval.

    Layer names follow timm's module names (`patch_embed.proj`, `cls_token`, `pos_embed`,
    `blocks.{i}.attn`, `blocks.{i}.mlp.fc1`, `norm`, `head`, `head_dist`) and the official
    Aug-ViT names (`blocks.{i}.augs_attn.0`, ...), so `keras_hire.convert.load_pytorch_weights`
    maps timm's and the official state_dicts by rule.

    Args:
        patch_size: int, the patch side; the input height and width must be multiples of it.
        embed_dim: int, the token width.
        depth: int, the number of blocks.
        num_heads: int, attention heads; `embed_dim` must be a multiple of it.
        mlp_ratio: float, MLP hidden width / `embed_dim`.
        qkv_bias: bool, biases in the q, k, v projections.
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`, multiples of `patch_size`.
        include_top: whether to add the classifier; without it the model returns the final
            normalised tokens `(batch, num_prefix_tokens + patches, embed_dim)`.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over the blocks.
        dropout: dropout after the position embedding, the attention projection and in the MLPs.
        distilled: add DeiT's distillation token and `head_dist`.
        augmented_shortcuts: Aug-ViT's block mode, one of `None` (plain block), `"linear"`,
            `"circulant"` (one shortcut beside each sub-layer on its LayerNorm-ed input),
            `"linear2"`, `"circulant2"` (two GELU-activated shortcuts beside each sub-layer, and
            the block's sums scaled by 3/4); "circulant" modes use `BlockCirculantDense`.
        num_circulant_blocks: circulant blocks per side of the shortcut weights (official `num_cir`).
        layer_norm_epsilon: float, 1e-6 as in timm and the official code.
        keep: None (every block computes every token), or patch slimming's (2106.02852) static
            token sets: one sorted list of original token indices per block (0 the class token,
            1 the distillation token when distilled, then the patches row-major), nested
            (`keep[l]` a subset of `keep[l-1]`), always holding the class (and distillation)
            token. Block `l` computes the outputs of `keep[l]` only: its queries, MLP, residual,
            second LayerNorm and Aug-ViT shortcuts run on those rows, its keys and values come from
            the tokens block `l-1` kept (all tokens for block 0). Build one with
            `keras_hire.methods.slimming.slim(model, keep)`.
        name: model name.

    Intermediate tokens and attention maps: see `TokenBackbone` (`model.intermediate_model()`).
    `model.pyramid_outputs` holds every block's patch tokens as a `(batch, h, w, dim)` map
    (`"block_{i}"`, stride `patch_size`). With `keep`, `"block_{i}"` holds the tokens `keep[i]`
    in sorted order, `"attn_{i}"` is `(batch, heads, len(keep[i]), len(keep[i-1]))`, and only the
    blocks that keep every token have a pyramid map. Internally a slimmed model holds its tokens
    ordered by how many blocks keep them (so that every block's set is a prefix, cut by one
    slice); outputs and intermediates are given back in sorted order.

    Example:
    ```python
    model = keras_hire.models.VisionTransformer(patch_size=16, embed_dim=192, depth=12, num_heads=3)
    logits = model(images)  # images: float32 (batch, 224, 224, 3), ImageNet-normalised
    taps = model.intermediate_model(["block_11", "attn_11"])(images)
    ```
    """

    def __init__(
        self,
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        drop_path_rate=0.0,
        dropout=0.0,
        distilled=False,
        augmented_shortcuts=None,
        num_circulant_blocks=4,
        layer_norm_epsilon=1e-6,
        keep=None,
        name="vision_transformer",
        **kwargs,
    ):
        family = type(self).__name__
        image_shape, grid = check_transformer_args(family, input_shape, patch_size, embed_dim, depth, num_heads,
                                                num_classes, include_top)
        validate_rates(family, drop_path_rate=drop_path_rate, dropout=dropout)
        if augmented_shortcuts not in AUGMENTED_SHORTCUTS:
            raise ValueError(
                f"{family}: augmented_shortcuts must be one of {AUGMENTED_SHORTCUTS}; "
                f"received augmented_shortcuts={augmented_shortcuts!r}."
            )
        if augmented_shortcuts and augmented_shortcuts.startswith("circulant") and (
            int(num_circulant_blocks) < 1 or int(embed_dim) % int(num_circulant_blocks)
        ):
            raise ValueError(
                f"{family}: embed_dim={embed_dim} must be a multiple of num_circulant_blocks="
                f"{num_circulant_blocks} for circulant shortcuts."
            )
        num_prefix = 2 if distilled else 1
        num_tokens = num_prefix + grid[0] * grid[1]
        prefix_names = ("class token", "distillation token")[:num_prefix]
        keep = check_keep(family, keep, int(depth), num_tokens, dict(enumerate(prefix_names)),
                          f"{num_prefix} prefix token(s) ({', '.join(prefix_names)}) + {num_tokens - num_prefix} "
                          f"patches")
        slimming = SlimmedOrder(keep, num_tokens)

        inputs = keras.Input(image_shape, name="images")
        x = patch_embedding(inputs, patch_size, embed_dim)
        if distilled:
            x = ClassToken(embed_dim, name="dist_token")(x)  # prepended first, so it lands second
        x = ClassToken(embed_dim, name="cls_token")(x)
        x = PositionEmbedding(grid, embed_dim, num_prefix_tokens=num_prefix, name="pos_embed")(x)
        x = keras.layers.Dropout(dropout, name="pos_drop")(x)
        x = slimming.reorder(x, name="slim.order")

        intermediates, pyramid = {}, {}
        for i in range(depth):
            rate = drop_path_rate * i / max(depth - 1, 1)  # torch.linspace(0, rate, depth)
            x, attention = vit_block(
                x, embed_dim, num_heads, mlp_ratio, qkv_bias, rate, dropout, layer_norm_epsilon,
                augmented_shortcuts, num_circulant_blocks, name=f"blocks.{i}", num_queries=slimming.num_queries(i),
            )
            intermediates[f"block_{i}"] = slimming.sorted_tokens(x, i, name=f"blocks.{i}.sorted")
            intermediates[f"attn_{i}"] = slimming.sorted_attention(attention, i, name=f"blocks.{i}.attn_sorted")
            if slimming.keeps_all(i):
                pyramid[f"block_{i}"] = patch_grid(intermediates[f"block_{i}"], num_prefix, grid,
                                                   name=f"blocks.{i}.grid")

        x = held = LayerNorm(epsilon=layer_norm_epsilon, name="norm")(x)
        intermediates["norm"] = slimming.sorted_tokens(held, depth - 1, name="norm.sorted")
        if not include_top:
            x = intermediates["norm"]
        if include_top:  # the class (and distillation) token are the first held tokens in any order
            cls = TokenSlice(0, squeeze=True, name="pool")(x)
            x = keras.layers.Dense(num_classes, name="head", **_init())(cls)
            if distilled:
                intermediates["logits_cls"] = x
                dist = TokenSlice(1, squeeze=True, name="pool_dist")(held)
                intermediates["logits_dist"] = keras.layers.Dense(num_classes, name="head_dist", **_init())(dist)
                x = keras.layers.Average(name="head_average")([x, intermediates["logits_dist"]])
            intermediates["logits"] = x
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)

        self.intermediate_outputs = intermediates
        self.num_prefix_tokens = num_prefix
        self.keep_config(locals())

    # Constructor arguments that get_config returns besides name and input_shape, and their types.
    config_keys = dict(patch_size=int, embed_dim=int, depth=int, num_heads=int, mlp_ratio=float, qkv_bias=bool,
                       num_classes=int, include_top=bool, drop_path_rate=float, dropout=float, distilled=bool,
                       augmented_shortcuts=str, num_circulant_blocks=int, layer_norm_epsilon=float,
                       keep=keep_sets)


def check_transformer_args(family, input_shape, patch_size, embed_dim, depth, num_heads, num_classes, include_top):
    """Checks the arguments ViT and CaiT share (a `ValueError` echoes a bad value); returns the
    validated `(height, width, channels)` and the patch grid `(rows, columns)`."""
    if int(patch_size) < 1:
        raise ValueError(f"{family}: patch_size must be a positive int; received patch_size={patch_size}.")
    if int(depth) < 1:
        raise ValueError(f"{family}: depth must be at least 1; received depth={depth}.")
    if int(num_heads) < 1 or int(embed_dim) % int(num_heads):
        raise ValueError(
            f"{family}: embed_dim must be a multiple of num_heads >= 1; received embed_dim={embed_dim}, "
            f"num_heads={num_heads}."
        )
    validate_head(family, num_classes, include_top)
    height, width, channels = validate_input_shape(
        input_shape, family, min_size=patch_size, divisor=patch_size, why=f" (the patch size is {patch_size})"
    )
    return (height, width, channels), (height // patch_size, width // patch_size)


def patch_embedding(images, patch_size, embed_dim):
    """Non-overlapping patches -> `(batch, patches, embed_dim)` tokens, row-major (timm's `patch_embed`)."""
    x = keras.layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed.proj", **_init())(images)
    return keras.layers.Reshape((x.shape[1] * x.shape[2], embed_dim), name="patch_embed.flatten")(x)


def patch_grid(tokens, num_prefix, grid, name):
    """The patch tokens of a sequence as a `(batch, grid_h, grid_w, dim)` feature map."""
    patches = TokenSlice(num_prefix, name=f"{name}.patches")(tokens) if num_prefix else tokens
    return keras.layers.Reshape((grid[0], grid[1], tokens.shape[-1]), name=name)(patches)


def mlp(x, dim, mlp_ratio, dropout, name):
    """timm's `Mlp`: fc1, exact GELU, dropout, fc2, dropout."""
    y = keras.layers.Dense(int(dim * mlp_ratio), name=f"{name}.fc1", **_init())(x)
    y = keras.layers.Activation("gelu", name=f"{name}.act")(y)
    y = keras.layers.Dropout(dropout, name=f"{name}.drop1")(y)
    y = keras.layers.Dense(dim, name=f"{name}.fc2", **_init())(y)
    return keras.layers.Dropout(dropout, name=f"{name}.drop2")(y)


def vit_block(x, dim, num_heads, mlp_ratio, qkv_bias, drop_path_rate, dropout, epsilon, augmented_shortcuts,
              num_circulant_blocks, name, num_queries=None):
    """One pre-norm block, with Aug-ViT's augmented shortcuts when asked; returns (tokens, attention).

    With `num_queries` (patch slimming) only the first `num_queries` tokens are computed: keys and
    values come from every input token, everything else runs on those rows.
    """
    scale = _TWO_SHORTCUT_SCALE if augmented_shortcuts in ("linear2", "circulant2") else 1.0

    y = LayerNorm(epsilon=epsilon, name=f"{name}.norm1")(x)
    branch, attention = MultiHeadSelfAttention(dim, num_heads, qkv_bias=qkv_bias, dropout=dropout,
                                               num_queries=num_queries, name=f"{name}.attn")(y)
    if num_queries is not None:
        x = TokenSlice(0, num_queries, name=f"{name}.keep")(x)
        if augmented_shortcuts is not None:
            y = TokenSlice(0, num_queries, name=f"{name}.keep_norm1")(y)
    branch = DropPath(drop_path_rate, name=f"{name}.drop_path1")(branch)
    shortcut_names = (f"{name}.augs_attn", f"{name}.augs_attn2")
    shortcuts = augmented(y, dim, augmented_shortcuts, num_circulant_blocks, shortcut_names)
    x = ScaledAdd(scale, name=f"{name}.add1")([x, branch, *shortcuts])

    y = LayerNorm(epsilon=epsilon, name=f"{name}.norm2")(x)
    branch = mlp(y, dim, mlp_ratio, dropout, name=f"{name}.mlp")
    branch = DropPath(drop_path_rate, name=f"{name}.drop_path2")(branch)
    shortcuts = augmented(y, dim, augmented_shortcuts, num_circulant_blocks, (f"{name}.augs", f"{name}.augs2"))
    x = ScaledAdd(scale, name=f"{name}.add2")([x, branch, *shortcuts])
    return x, attention


def augmented(y, dim, mode, num_circulant_blocks, names):
    """Aug-ViT's augmented shortcuts of the LayerNorm-ed input `y` (not drop-path'ed), official names."""
    if mode is None:
        return []

    def projection(name):
        if mode.startswith("circulant"):
            return BlockCirculantDense(dim, num_blocks=num_circulant_blocks, name=name)
        return keras.layers.Dense(dim, name=name, **_init())

    if mode in ("linear", "circulant"):  # one plain projection: `augs_attn`, `augs`
        return [projection(names[0])(y)]
    outputs = []  # two `nn.Sequential(projection, GELU)`: `augs_attn.0`, `augs_attn.1`, `augs_attn2.0`, ...
    for name in names:
        z = projection(f"{name}.0")(y)
        outputs.append(keras.layers.Activation("gelu", name=f"{name}.1")(z))
    return outputs


# timm's pretrained configurations: DeiT at crop 0.875 with ImageNet statistics; Google's ViT at
# crop 0.9 with [-1, 1] scaling. Any size that is a multiple of the patch size.
_DEIT = family_info("2012.12877", input_divisor=16)
_VIT = family_info("2010.11929", crop_fraction=0.9, mean=INCEPTION_MEAN, std=INCEPTION_STD, input_divisor=16)


def _vit_variant(name, class_name, info, checkpoint):
    return register_variant(VisionTransformer, name, class_name, VIT_CONFIGS[name],
                            dataclasses.replace(info, checkpoint=checkpoint))


DeiTTiny = _vit_variant("deit_tiny", "DeiTTiny", _DEIT, "deit_tiny_patch16_224.fb_in1k")
DeiTSmall = _vit_variant("deit_small", "DeiTSmall", _DEIT, "deit_small_patch16_224.fb_in1k")
DeiTBase = _vit_variant("deit_base", "DeiTBase", _DEIT, "deit_base_patch16_224.fb_in1k")
DeiTTinyDistilled = _vit_variant("deit_tiny_distilled", "DeiTTinyDistilled", _DEIT,
                                 "deit_tiny_distilled_patch16_224.fb_in1k")
DeiTSmallDistilled = _vit_variant("deit_small_distilled", "DeiTSmallDistilled", _DEIT,
                                  "deit_small_distilled_patch16_224.fb_in1k")
DeiTBaseDistilled = _vit_variant("deit_base_distilled", "DeiTBaseDistilled", _DEIT,
                                 "deit_base_distilled_patch16_224.fb_in1k")
ViTBase16 = _vit_variant("vit_base_patch16", "ViTBase16", _VIT, "vit_base_patch16_224.augreg2_in21k_ft_in1k")
