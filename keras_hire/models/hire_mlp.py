"""Hire-MLP (Guo et al., arXiv 2108.13341, CVPR 2022): vision MLP via hierarchical rearrangement."""

import dataclasses

import keras

from keras_hire.layers import DropPath, HireModule
from keras_hire.layers.initializers import trunc_normal
from keras_hire.models.backbone import Backbone, ints, validate_head, validate_input_shape, validate_rates
from keras_hire.models.registry import family_info, register_variant

# Official configurations (ggjy/Hire-Wave-MLP.pytorch, mlp_based/hire_mlp.py).
_COMMON = dict(
    mlp_ratios=(4, 4, 4, 4),
    region_sizes=(4, 3, 3, 2),
    shift_strides=(2, 2, 3, 2),
    shift_dilations=(2, 2, 1, 1),
)
HIRE_MLP_CONFIGS = {
    "hire_mlp_tiny": dict(depths=(2, 2, 4, 2), embed_dims=(64, 128, 320, 512), **_COMMON),
    "hire_mlp_small": dict(depths=(3, 4, 10, 3), embed_dims=(64, 128, 320, 512), **_COMMON),
    "hire_mlp_base": dict(depths=(4, 6, 24, 3), embed_dims=(64, 128, 320, 512), **_COMMON),
    "hire_mlp_large": dict(depths=(4, 6, 24, 3), embed_dims=(96, 192, 384, 768), **_COMMON),
}

_BN = dict(epsilon=1e-5, momentum=0.9)


def _init():
    """Conv and linear weights: truncated normal, std 0.02; zero biases (the official init)."""
    return dict(kernel_initializer=trunc_normal(0.02), bias_initializer="zeros")


@keras.saving.register_keras_serializable(package="keras_hire")
class HireMLP(Backbone):
    """The Hire-MLP family: a 4-stage pyramid of Hire blocks (BatchNorm, Hire module, MLP).

    Layer names follow the official PyTorch module names (`patch_embed`, `network.0.0.attn`,
    `network.1` for the first downsampling, `norm`, `head`), so that
    `keras_hire.convert.load_pytorch_weights` maps official checkpoints by rule.

    Args:
        depths: blocks per stage, e.g. `(3, 4, 10, 3)`.
        embed_dims: channels per stage, e.g. `(64, 128, 320, 512)`.
        mlp_ratios: hidden/input width of each stage's channel MLP.
        region_sizes: rows (columns) per region of the inner-region rearrangement (official `pixel`).
        shift_strides: the cross-region step of block `j` of a stage is
            `(j % shift_strides[i]) * shift_dilations[i]` (official `step_stride`).
        shift_dilations: see `shift_strides` (official `step_dilation`).
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`; any size of at least 3x3 pixels.
        include_top: whether to add the final BatchNorm-pool-dense classifier. Without it the
            model returns the last stage's normalised feature map.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over all blocks.
        dropout: dropout after each Hire module's projection and in the channel MLPs.
        name: model name.

    The four stage outputs are available as `model.pyramid_outputs` (`"stage1"`..`"stage4"`, at
    strides 4, 8, 16, 32) and as a model from `model.feature_extractor()`.

    Example:
    ```python
    model = keras_hire.models.HireMLPSmall(num_classes=10, input_shape=(160, 160, 3))
    logits = model(images)  # images: float32 (batch, 160, 160, 3), ImageNet-normalised
    ```
    """

    def __init__(
        self,
        depths,
        embed_dims,
        mlp_ratios=(4, 4, 4, 4),
        region_sizes=(4, 3, 3, 2),
        shift_strides=(2, 2, 3, 2),
        shift_dilations=(2, 2, 1, 1),
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        drop_path_rate=0.0,
        dropout=0.0,
        name="hire_mlp",
        **kwargs,
    ):
        num_stages = len(depths)
        per_stage = dict(embed_dims=embed_dims, mlp_ratios=mlp_ratios, region_sizes=region_sizes,
                         shift_strides=shift_strides, shift_dilations=shift_dilations)
        for arg, values in per_stage.items():
            if len(values) != num_stages:
                raise ValueError(
                    f"HireMLP: {arg} has {len(values)} entries but depths={tuple(depths)} has {num_stages} stages; "
                    "give one value per stage."
                )
        if any(int(d) < 1 for d in depths):
            raise ValueError(f"HireMLP: every stage needs at least one block; received depths={tuple(depths)}.")
        validate_head("HireMLP", num_classes, include_top)
        validate_rates("HireMLP", drop_path_rate=drop_path_rate, dropout=dropout)
        height, width, channels = validate_input_shape(
            input_shape, "HireMLP", min_size=3,
            why=" (the 7x7 stride-4 stem with padding 2 needs 3 pixels to leave every stage one pixel)",
        )

        inputs = keras.Input((height, width, channels), name="images")
        x = keras.layers.ZeroPadding2D(2, name="patch_embed.pad")(inputs)
        x = keras.layers.Conv2D(embed_dims[0], 7, strides=4, name="patch_embed.proj", **_init())(x)
        x = keras.layers.BatchNormalization(name="patch_embed.norm", **_BN)(x)
        x = keras.layers.ReLU(name="patch_embed.act")(x)

        total_blocks, block_index, pyramid = sum(depths), 0, {}
        for stage in range(num_stages):
            network_index = 2 * stage  # the official ModuleList interleaves stages and downsamplings
            if stage > 0:
                prefix = f"network.{network_index - 1}"
                x = keras.layers.ZeroPadding2D(1, name=f"{prefix}.pad")(x)
                x = keras.layers.Conv2D(embed_dims[stage], 3, strides=2, name=f"{prefix}.proj", **_init())(x)
                x = keras.layers.BatchNormalization(name=f"{prefix}.norm", **_BN)(x)
                x = keras.layers.ReLU(name=f"{prefix}.act")(x)
            for j in range(depths[stage]):
                rate = drop_path_rate * block_index / max(total_blocks - 1, 1)
                x = _hire_block(
                    x,
                    dim=embed_dims[stage],
                    mlp_ratio=mlp_ratios[stage],
                    region_size=region_sizes[stage],
                    step=(j % shift_strides[stage]) * shift_dilations[stage],
                    drop_path_rate=rate,
                    dropout=dropout,
                    name=f"network.{network_index}.{j}",
                )
                block_index += 1
            pyramid[f"stage{stage + 1}"] = x

        x = keras.layers.BatchNormalization(name="norm", **_BN)(x)
        if include_top:
            x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
            x = keras.layers.Dense(num_classes, name="head", **_init())(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)

        self.keep_config(locals())

    # Constructor arguments that get_config returns besides name and input_shape, and their types.
    config_keys = dict(depths=ints, embed_dims=ints, mlp_ratios=tuple, region_sizes=ints, shift_strides=ints,
                       shift_dilations=ints, num_classes=int, include_top=bool, drop_path_rate=float, dropout=float)


def _hire_block(x, dim, mlp_ratio, region_size, step, drop_path_rate, dropout, name):
    """x + DropPath(Hire(BN(x))); x + DropPath(MLP(BN(x))), with the official module names."""
    shortcut = x
    y = keras.layers.BatchNormalization(name=f"{name}.norm1", **_BN)(x)
    y = HireModule(dim, region_size=region_size, step=step, dropout=dropout, name=f"{name}.attn")(y)
    y = DropPath(drop_path_rate, name=f"{name}.drop_path1")(y)
    x = keras.layers.Add(name=f"{name}.add1")([shortcut, y])

    shortcut = x
    y = keras.layers.BatchNormalization(name=f"{name}.norm2", **_BN)(x)
    y = keras.layers.Conv2D(int(dim * mlp_ratio), 1, name=f"{name}.mlp.fc1", **_init())(y)
    y = keras.layers.Activation("gelu", name=f"{name}.mlp.act")(y)
    y = keras.layers.Dropout(dropout, name=f"{name}.mlp.drop1")(y)
    y = keras.layers.Conv2D(dim, 1, name=f"{name}.mlp.fc2", **_init())(y)
    y = keras.layers.Dropout(dropout, name=f"{name}.mlp.drop2")(y)
    y = DropPath(drop_path_rate, name=f"{name}.drop_path2")(y)
    return keras.layers.Add(name=f"{name}.add2")([shortcut, y])


# Eval transform of the official code (crop_pct 0.9, bicubic, ImageNet mean/std); the GitHub release
# "log" of ggjy/Hire-Wave-MLP.pytorch holds Tiny/Small/Base checkpoints, none for Large.
_INFO = family_info("2108.13341", crop_fraction=0.9)
HireMLPTiny = register_variant(HireMLP, "hire_mlp_tiny", "HireMLPTiny", HIRE_MLP_CONFIGS["hire_mlp_tiny"],
                               dataclasses.replace(_INFO, checkpoint="hire_mlp_tiny.pth"))
HireMLPSmall = register_variant(HireMLP, "hire_mlp_small", "HireMLPSmall", HIRE_MLP_CONFIGS["hire_mlp_small"],
                                dataclasses.replace(_INFO, checkpoint="hire_mlp_small.pth"))
HireMLPBase = register_variant(HireMLP, "hire_mlp_base", "HireMLPBase", HIRE_MLP_CONFIGS["hire_mlp_base"],
                               dataclasses.replace(_INFO, checkpoint="hire_mlp_base.pth"))
HireMLPLarge = register_variant(HireMLP, "hire_mlp_large", "HireMLPLarge", HIRE_MLP_CONFIGS["hire_mlp_large"], _INFO)
