"""CMT (Guo et al., arXiv 2107.06263, CVPR 2022): convolutional neural networks meet vision transformers."""

import dataclasses
import math

import keras

from keras_hire.layers import (
    DropPath,
    InvertedResidualFFN,
    LayerNorm,
    LightweightAttention,
    RelativePositionBias,
    ResidualDepthwiseConv2D,
)
from keras_hire.layers.cmt_init import conv_initializer, depthwise_initializer
from keras_hire.layers.initializers import trunc_normal
from keras_hire.models.backbone import Backbone, ints, validate_head, validate_input_shape, validate_rates
from keras_hire.models.registry import family_info, register_variant

# Official configurations (huawei-noah/Efficient-AI-Backbones, cmt_pytorch/cmt.py) and the
# resolutions the released checkpoints were trained at.
_COMMON = dict(num_heads=(1, 2, 4, 8), kv_reductions=(8, 4, 2, 1), fc_dim=1280)
CMT_CONFIGS = {
    "cmt_tiny": dict(embed_dims=(46, 92, 184, 368), stem_channels=16, depths=(2, 2, 10, 2),
                     mlp_ratios=(3.6,) * 4, dropout=0.1, input_shape=(160, 160, 3), **_COMMON),
    "cmt_xs": dict(embed_dims=(52, 104, 208, 416), stem_channels=16, depths=(3, 3, 12, 3),
                   mlp_ratios=(3.77,) * 4, dropout=0.1, input_shape=(192, 192, 3), **_COMMON),
    "cmt_small": dict(embed_dims=(64, 128, 256, 512), stem_channels=32, depths=(3, 3, 16, 3),
                      mlp_ratios=(4,) * 4, dropout=0.1, input_shape=(224, 224, 3), **_COMMON),
    "cmt_base": dict(embed_dims=(76, 152, 304, 608), stem_channels=38, depths=(4, 4, 20, 4),
                     mlp_ratios=(4,) * 4, dropout=0.3, input_shape=(256, 256, 3), **_COMMON),
}

_STAGES = "abcd"  # the official attribute suffixes: patch_embed_a, blocks_a, relative_pos_a, ...
_BN = dict(epsilon=1e-5, momentum=0.9)


@keras.saving.register_keras_serializable(package="keras_hire")
class CMT(Backbone):
    """The CMT family: a conv stem and 4 stages of CMT blocks (LPU, LMHSA, IRFFN).

    Layer names follow the official PyTorch module names (`stem_conv1`, `patch_embed_a.proj`,
    `relative_pos_a`, `blocks_a.0.attn`, `_fc`, `_bn`, `head`), so that
    `keras_hire.convert.load_pytorch_weights` maps the official checkpoints by rule.

    Each stage has one learned relative position bias `[heads, N, N/k^2]` (layer
    `relative_pos_a` ... `relative_pos_d`) shared by all its blocks. It belongs to the input
    size the model is built for; any size whose sides are multiples of 32 (with the default
    `kv_reductions`) works. Weights trained at another size (an official checkpoint through
    `load_pytorch_weights`, or a Keras CMT of another size through `load_resized_weights`)
    are resized bilinearly over the query grid and over the key/value
    grid, as keras_cv_attention_models does for the released weights (half-pixel centres,
    `align_corners=False`; see `keras_hire.layers.resize_relative_position_bias`).

    Args:
        embed_dims: channels per stage, e.g. `(64, 128, 256, 512)`.
        stem_channels: channels of the three 3x3 stem convs (official `stem_channel`).
        fc_dim: channels of the head's 1x1 conv before pooling (1280 in every variant).
        num_heads: attention heads per stage.
        mlp_ratios: IRFFN expansion per stage; the hidden width is `int(dim * ratio)`.
        depths: blocks per stage.
        kv_reductions: key/value reduction `k` per stage (official `sr_ratios`): keys and
            values come from a k x k stride-k depthwise conv + BatchNorm.
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`; height and width must be multiples of
            `2^(i+2) * kv_reductions[i]` for every stage `i` (32 for the official settings).
        include_top: whether to add the head (1x1 conv to `fc_dim`, BatchNorm, swish, global
            average pooling, dropout, dense). Without it the model returns the stage-4 map;
            load official checkpoints then with `skip=("_fc.", "_bn.", "head.")`.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over all blocks.
        dropout: dropout before the classifier (official `dp`: 0.1, 0.3 for CMT-B).
        name: model name.

    Dense tasks read the stage maps (strides 4 to 32) from `model.pyramid_outputs["stage1"]`
    .. `["stage4"]`, or all of them at once from `model.feature_extractor()`.

    Example:
    ```python
    model = keras_hire.models.CMTSmall(num_classes=10, input_shape=(256, 256, 3))
    logits = model(images)  # images: float32 (batch, 256, 256, 3), ImageNet-normalised
    ```
    """

    def __init__(
        self,
        embed_dims,
        stem_channels,
        depths,
        num_heads=(1, 2, 4, 8),
        mlp_ratios=(4, 4, 4, 4),
        kv_reductions=(8, 4, 2, 1),
        fc_dim=1280,
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        drop_path_rate=0.0,
        dropout=0.1,
        name="cmt",
        **kwargs,
    ):
        num_stages = len(depths)
        if num_stages != 4:
            raise ValueError(f"CMT has 4 stages (a to d); received depths={tuple(depths)}.")
        per_stage = dict(embed_dims=embed_dims, num_heads=num_heads, mlp_ratios=mlp_ratios,
                         kv_reductions=kv_reductions)
        for arg, values in per_stage.items():
            if len(values) != num_stages:
                raise ValueError(
                    f"CMT: {arg}={tuple(values)} has {len(values)} entries; give one value per stage (4)."
                )
        if any(int(d) < 1 for d in depths):
            raise ValueError(f"CMT: every stage needs at least one block; received depths={tuple(depths)}.")
        for dim, heads in zip(embed_dims, num_heads):
            if int(heads) < 1 or int(dim) % int(heads):
                raise ValueError(
                    f"CMT: each of embed_dims={tuple(embed_dims)} must be a multiple of the stage's "
                    f"num_heads={tuple(num_heads)}."
                )
        if any(int(k) < 1 for k in kv_reductions):
            raise ValueError(f"CMT: kv_reductions must be >= 1; received kv_reductions={tuple(kv_reductions)}.")
        if int(stem_channels) < 1 or int(fc_dim) < 1:
            raise ValueError(f"CMT: stem_channels and fc_dim must be >= 1; received {stem_channels}, {fc_dim}.")
        validate_head("CMT", num_classes, include_top)
        validate_rates("CMT", drop_path_rate=drop_path_rate, dropout=dropout)
        divisor = math.lcm(*(2 ** (i + 2) * int(k) for i, k in enumerate(kv_reductions)))
        height, width, channels = validate_input_shape(
            input_shape, "CMT", min_size=divisor, divisor=divisor,
            why=(f" (stride {2 ** (num_stages + 1)} overall, and each stage's map must divide by its "
                 f"kv_reduction: kv_reductions={tuple(kv_reductions)})"),
        )

        inputs = keras.Input((height, width, channels), name="images")
        # Keras "same" pads a stride-2 conv asymmetrically; torch's padding=1 is symmetric.
        x = keras.layers.ZeroPadding2D(1, name="stem_pad1")(inputs)
        for i in (1, 2, 3):  # conv -> GELU -> BatchNorm (activation first), as the official forward
            x = keras.layers.Conv2D(
                stem_channels, 3, strides=2 if i == 1 else 1, padding="valid" if i == 1 else "same",
                name=f"stem_conv{i}", kernel_initializer=conv_initializer(),
            )(x)
            x = keras.layers.Activation("gelu", name=f"stem_relu{i}")(x)
            x = keras.layers.BatchNormalization(name=f"stem_norm{i}", **_BN)(x)

        total_blocks, block_index, pyramid = sum(depths), 0, {}
        for stage, letter in enumerate(_STAGES):
            dim = int(embed_dims[stage])
            x = keras.layers.Conv2D(
                dim, 2, strides=2, name=f"patch_embed_{letter}.proj", kernel_initializer=conv_initializer()
            )(x)
            x = LayerNorm(epsilon=1e-5, name=f"patch_embed_{letter}.norm")(x)
            bias = RelativePositionBias(
                num_heads[stage], kv_reductions[stage], name=f"relative_pos_{letter}"
            )(x)
            for j in range(depths[stage]):
                x = _cmt_block(
                    x, bias,
                    dim=dim,
                    num_heads=int(num_heads[stage]),
                    hidden_dim=int(dim * mlp_ratios[stage]),
                    kv_reduction=int(kv_reductions[stage]),
                    drop_path_rate=drop_path_rate * block_index / max(total_blocks - 1, 1),
                    name=f"blocks_{letter}.{j}",
                )
                block_index += 1
            pyramid[f"stage{stage + 1}"] = x

        if include_top:
            x = keras.layers.Conv2D(fc_dim, 1, name="_fc", kernel_initializer=conv_initializer())(x)
            x = keras.layers.BatchNormalization(name="_bn", **_BN)(x)
            x = keras.layers.Activation("swish", name="_swish")(x)
            x = keras.layers.GlobalAveragePooling2D(name="_avg_pooling")(x)
            x = keras.layers.Dropout(dropout, name="_drop")(x)
            x = keras.layers.Dense(num_classes, name="head", kernel_initializer=trunc_normal(0.02))(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)

        self.keep_config(locals())

    # Constructor arguments that get_config returns besides name and input_shape, and their types.
    config_keys = dict(embed_dims=ints, stem_channels=int, depths=ints, num_heads=ints, mlp_ratios=tuple,
                       kv_reductions=ints, fc_dim=int, num_classes=int, include_top=bool, drop_path_rate=float,
                       dropout=float)

    def load_resized_weights(self, source):
        """Copies every weight of a CMT built for another input size, resizing the position biases.

        Args:
            source: a `CMT` with the same architecture (e.g. trained at 160x160) whose weights
                this model (e.g. built for 224x224) takes; each `relative_pos_*` bias is resized
                with `RelativePositionBias.load_resized_weights`, every other weight is copied.

        Example:
        ```python
        trained = keras_hire.models.CMTTiny()  # 160x160, trained
        model = keras_hire.models.CMTTiny(input_shape=(224, 224, 3))
        model.load_resized_weights(trained)
        ```
        """
        for layer in self.layers:
            if not layer.weights:
                continue
            try:
                source_layer = source.get_layer(layer.name)
            except ValueError as error:
                raise ValueError(
                    f"load_resized_weights: '{source.name}' has no layer '{layer.name}'; the two models "
                    "must share the architecture apart from the input size."
                ) from error
            if isinstance(layer, RelativePositionBias):
                layer.load_resized_weights(source_layer)
            else:
                layer.set_weights(source_layer.get_weights())


def _cmt_block(x, bias, dim, num_heads, hidden_dim, kv_reduction, drop_path_rate, name):
    """LPU: x + DWConv(x); x + DropPath(LMHSA(LN(x))); x + DropPath(IRFFN(LN(x)))."""
    x = ResidualDepthwiseConv2D(3, name=f"{name}.proj", depthwise_initializer=depthwise_initializer(dim))(x)

    y = LayerNorm(epsilon=1e-6, name=f"{name}.norm1")(x)
    y = LightweightAttention(dim, num_heads, kv_reduction=kv_reduction, name=f"{name}.attn")([y, bias])
    y = DropPath(drop_path_rate, name=f"{name}.drop_path1")(y)
    x = keras.layers.Add(name=f"{name}.add1")([x, y])

    y = LayerNorm(epsilon=1e-6, name=f"{name}.norm2")(x)
    y = InvertedResidualFFN(dim, hidden_dim, name=f"{name}.mlp")(y)
    y = DropPath(drop_path_rate, name=f"{name}.drop_path2")(y)
    return keras.layers.Add(name=f"{name}.add2")([x, y])


# timm's default eval crop (the official train.py sets none), ImageNet mean/std; checkpoints are the
# GitHub release-v1 files of ggjy/CMT.pytorch. Any size that is a multiple of 32.
_INFO = family_info("2107.06263", input_divisor=32)


def _cmt_variant(name, class_name):
    info = dataclasses.replace(_INFO, checkpoint=f"{name}.pth")
    return register_variant(CMT, name, class_name, CMT_CONFIGS[name], info)


CMTTiny = _cmt_variant("cmt_tiny", "CMTTiny")
CMTXS = _cmt_variant("cmt_xs", "CMTXS")
CMTSmall = _cmt_variant("cmt_small", "CMTSmall")
CMTBase = _cmt_variant("cmt_base", "CMTBase")
