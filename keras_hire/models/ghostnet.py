"""GhostNet (Han et al., arXiv 1911.11907) and the enlarged S-GhostNets of greedy network enlarging
(Liu et al., arXiv 2108.00177).

One generic class over six stages (strides 1, 2, 2, 2, 1, 2 after a stride-2 stem), with the two
block tables of the official code: `block_style="ghostnet"` is GhostNet 1x (timm's `ghostnet_*`,
huawei-noah's `ghostnet_pytorch`), `block_style="large"` is the table of the MindSpore S-GhostNet
port (`research/cv/S-GhostNet/src/big_net.py`, `--large`). Layer names are timm's module paths
(`conv_stem`, `blocks.6.3.ghost1.primary_conv.0`, `blocks.9.0.bn1`, `conv_head`, `classifier`), so
timm and official state_dicts load by rule through `keras_hire.convert.load_pytorch_weights`. Only
standard Keras layers are used (Conv2D, DepthwiseConv2D, BatchNormalization, activations,
Concatenate, Multiply, Add, pooling, Dense), so the TFMOT twin can rebuild them layer by layer.
"""

import dataclasses
import math
from typing import NamedTuple

import keras

from keras_hire.layers import DropPath
from keras_hire.models.backbone import Backbone, ints, validate_head, validate_input_shape, validate_rates
from keras_hire.models.registry import family_info, register_variant

GHOSTNET_CHANNELS = (16, 24, 40, 80, 112, 160)  # GhostNet 1x, per stage
GHOSTNET_DEPTHS = (1, 2, 2, 4, 2, 5)
STAGE_STRIDES = (1, 2, 2, 2, 1, 2)
BLOCK_STYLES = ("ghostnet", "large")
_PYRAMID_STAGES = (1, 2, 4, 5)  # the last stage at each of the strides 4, 8, 16, 32
_BN = dict(epsilon=1e-5, momentum=0.9)  # torch BatchNorm2d defaults


class GhostBlock(NamedTuple):
    """One ghost bottleneck after width rounding: kernel, expansion, output channels, SE width, stride."""

    kernel: int
    expansion: int
    channels: int
    se_channels: int  # 0: no squeeze-and-excitation
    stride: int


def make_divisible(value, divisor=4):
    """Nearest multiple of `divisor`, never below `divisor` nor more than 10% below `value` (official rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _stage_rule(style, stage, j, channels):
    """(kernel, expansion before width scaling, SE ratio) of block `j` of `stage`, from the official tables."""
    c, previous = channels[stage], channels[stage - 1] if stage else channels[0]
    if style == "large":  # S-GhostNet: SE 0.1 everywhere; stage 3 widens 2.5x after its first block
        kernel = (3, 3, 5, 3, 3, 5)[stage]
        first, rest = (1, 3, 3, 6, 6, 6)[stage], (1, 3, 3, 2.5, 6, 6)[stage]
        return kernel, (previous * first if j == 0 else c * rest), 0.1
    kernel = (3, 3, 5, 3, 3, 5)[stage]
    if stage == 0:
        return kernel, c, 0.0
    if stage in (1, 2):
        return kernel, 3 * (previous if j == 0 else c), 0.25 if stage == 2 else 0.0
    if stage == 3:  # GhostNet 1x: 240, 200, 184, 184 at c3 = 80; kept as ratios so widths scale them
        return kernel, (6 * previous if j == 0 else c * (200 if j == 1 else 184) / 80), 0.0
    if stage == 4:
        return kernel, 6 * (previous if j == 0 else c), 0.25
    return kernel, 6 * (previous if j == 0 else c), 0.25 if j % 2 == 0 else 0.0


def ghostnet_blocks(stage_channels, stage_depths, width=1.0, block_style="ghostnet"):
    """The ghost bottlenecks of each stage, rounded as the official code rounds them.

    Returns a list of six lists of `GhostBlock`. Output and expansion widths are
    `make_divisible(value * width, 4)`; the SE width is `make_divisible(expansion * ratio, d)`
    with `d = 4` (GhostNet) or `8` (S-GhostNet, `big_net.py`'s `divisor=8`).
    """
    se_divisor = 8 if block_style == "large" else 4
    stages = []
    for stage, depth in enumerate(stage_depths):
        blocks = []
        for j in range(int(depth)):
            kernel, expansion, se_ratio = _stage_rule(block_style, stage, j, stage_channels)
            mid = make_divisible(expansion * width)
            se = make_divisible(mid * se_ratio, se_divisor) if se_ratio else 0
            stride = STAGE_STRIDES[stage] if j == 0 else 1
            blocks.append(GhostBlock(kernel, mid, make_divisible(stage_channels[stage] * width), se, stride))
        stages.append(blocks)
    return stages


def ghostnet_macs(stage_channels=GHOSTNET_CHANNELS, stage_depths=GHOSTNET_DEPTHS, width=1.0, block_style="ghostnet",
                  resolution=224, num_classes=1000, stem_channels=None):
    """MACs of a GhostNet, counted from its block table as `keras_hire.utils.count_macs` counts the graph.

    Every conv and dense layer, SE's 1x1 convs included; no TensorFlow tracing, so the enlarging
    search can price thousands of configurations. `resolution` is an int or `(height, width)`.
    """
    return sum(ghostnet_stage_macs(stage_channels, stage_depths, width, block_style, resolution, num_classes,
                                   stem_channels))


def ghostnet_stage_macs(stage_channels=GHOSTNET_CHANNELS, stage_depths=GHOSTNET_DEPTHS, width=1.0,
                        block_style="ghostnet", resolution=224, num_classes=1000, stem_channels=None):
    """`ghostnet_macs` split into `[stem, stage 0, ..., stage 5, head]`."""
    height, width_px = (resolution, resolution) if isinstance(resolution, int) else resolution
    stages = ghostnet_blocks(stage_channels, stage_depths, width, block_style)
    channels = make_divisible((stage_channels[0] if stem_channels is None else stem_channels) * width)
    height, width_px = -(-height // 2), -(-width_px // 2)  # torch padding k // 2 at stride 2: ceil(h / 2)
    parts = [height * width_px * 9 * 3 * channels]
    for blocks in stages:
        macs = 0
        for block in blocks:
            area = height * width_px
            half_mid, half_out = math.ceil(block.expansion / 2), math.ceil(block.channels / 2)
            macs += area * half_mid * (channels + 9)  # ghost1: 1x1 conv, then the 3x3 cheap depthwise
            if block.stride > 1:
                height, width_px = -(-height // 2), -(-width_px // 2)
                macs += height * width_px * block.kernel ** 2 * block.expansion
            area = height * width_px
            macs += 2 * block.expansion * block.se_channels
            macs += area * half_out * (block.expansion + 9)  # ghost2
            if channels != block.channels or block.stride > 1:
                macs += area * channels * (block.kernel ** 2 + block.channels)
            channels = block.channels
        parts.append(int(macs))
    last = stages[-1][-1]
    head = max(1280, 5 * last.channels)
    parts.append(int(height * width_px * channels * last.expansion + last.expansion * head + head * num_classes))
    return parts


def timm_group_names(stages):
    """timm's `blocks.<group>.<index>` name of every block: a stride-2 block sits alone in its group."""
    names, group, index = [], -1, 0
    flat = [block for blocks in stages for block in blocks]
    for i, block in enumerate(flat):
        if i == 0 or block.stride > 1 or flat[i - 1].stride > 1:
            group, index = group + 1, 0
        names.append(f"blocks.{group}.{index}")
        index += 1
    return names, group + 1


def check_ghostnet_arguments(stage_channels, stage_depths, width, block_style):
    """Raises a ValueError that names the fix for a bad GhostNet configuration."""
    if block_style not in BLOCK_STYLES:
        raise ValueError(f"GhostNet: block_style must be one of {BLOCK_STYLES}; received {block_style!r}.")
    if len(stage_channels) != 6 or len(stage_depths) != 6:
        raise ValueError(
            f"GhostNet has 6 stages (strides {STAGE_STRIDES}); received stage_channels={tuple(stage_channels)} "
            f"and stage_depths={tuple(stage_depths)}. Give one value per stage, e.g. {GHOSTNET_CHANNELS} and "
            f"{GHOSTNET_DEPTHS}."
        )
    if any(int(d) < 1 for d in stage_depths) or any(int(c) < 1 for c in stage_channels):
        raise ValueError(f"GhostNet: every stage needs at least one block and one channel; received "
                         f"stage_channels={tuple(stage_channels)}, stage_depths={tuple(stage_depths)}.")
    if not float(width) > 0:
        raise ValueError(f"GhostNet: width must be a positive multiplier (1.0 for GhostNet 1x); received {width}.")


@keras.saving.register_keras_serializable(package="keras_hire")
class GhostNet(Backbone):
    """The GhostNet family: a stride-2 stem, six stages of ghost bottlenecks and the GhostNet head.

    A ghost bottleneck is GhostModule (1x1 conv to half the expansion, a 3x3 depthwise "cheap"
    conv making the other half, concatenated; ReLU) -> [k x k depthwise stride-2 conv + BN, only
    in a stage's strided first block] -> [squeeze-and-excitation: mean, 1x1 ReLU, 1x1
    hard-sigmoid] -> GhostModule without activation, plus a shortcut (identity, or a k x k
    depthwise + 1x1 conv with BN when the shape changes). After the stages: 1x1 conv + BN + ReLU
    to the last expansion width, global average pool, a 1x1 conv (`conv_head`, here a Dense on
    the pooled vector) to `max(1280, 5 * channels[-1])`, ReLU (hard-swish for "large"), dropout,
    the classifier.

    Args:
        stage_channels: output channels of the six stages before the width multiplier;
            GhostNet 1x is `(16, 24, 40, 80, 112, 160)`. The stem has `stage_channels[0]`.
        stage_depths: blocks per stage; GhostNet 1x is `(1, 2, 2, 4, 2, 5)`.
        width: channel multiplier (timm's `width`: 0.5, 1.0, 1.3); every width is rounded to a
            multiple of 4 by the official rule.
        block_style: `"ghostnet"` (GhostNet 1x's kernels, expansions and SE placement; stage 3's
            200/184 expansions become `2.5 * c` and `2.3 * c`, exact at `c = 80`) or `"large"`
            (the S-GhostNet table: SE 0.1 in every block, hard-swish stem and head).
        stem_channels: stem width before the multiplier; `None` takes `stage_channels[0]`
            (big_net.py's rule; timm's GhostNet class always has 16).
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`; any size of at least 32 pixels (multiples of
            32 give exact strides in the pyramid).
        include_top: whether to add the head (`blocks.9` 1x1 conv onwards). Without it the
            model returns the last stage's map; load checkpoints then with
            `skip=("blocks.<last>.", "conv_head.", "classifier.")`.
        drop_path_rate: stochastic depth of the residual branches, rising linearly from 0 over
            the blocks (the S-GhostNet recipe uses 0.1; timm's GhostNet has none).
        dropout: dropout before the classifier (timm's `drop_rate`, 0.2).
        name: model name.

    Dense tasks read the stage maps at strides 4, 8, 16 and 32 (the ends of stages 1, 2, 4 and
    5) from `model.pyramid_outputs["stage1"]` .. `["stage4"]` or `model.feature_extractor()`;
    their widths are `model.embed_dims`.

    Example:
    ```python
    model = keras_hire.models.GhostNet100(num_classes=10, input_shape=(128, 128, 3))
    model = keras_hire.models.GhostNet(stage_channels=(16, 24, 40, 80, 112, 160),
                                       stage_depths=(1, 2, 3, 4, 2, 6), num_classes=10)
    ```
    """

    def __init__(
        self,
        stage_channels=GHOSTNET_CHANNELS,
        stage_depths=GHOSTNET_DEPTHS,
        width=1.0,
        block_style="ghostnet",
        stem_channels=None,
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        drop_path_rate=0.0,
        dropout=0.2,
        name="ghostnet",
        **kwargs,
    ):
        check_ghostnet_arguments(stage_channels, stage_depths, width, block_style)
        validate_head("GhostNet", num_classes, include_top)
        validate_rates("GhostNet", drop_path_rate=drop_path_rate, dropout=dropout)
        height, width_px, channels = validate_input_shape(input_shape, "GhostNet", min_size=32,
                                                          why=" (the network's stride is 32)")
        large = block_style == "large"
        stages = ghostnet_blocks(stage_channels, stage_depths, width, block_style)
        names, head_group = timm_group_names(stages)

        inputs = keras.Input((height, width_px, channels), name="images")
        stem = make_divisible((stage_channels[0] if stem_channels is None else stem_channels) * width)
        x = _conv(inputs, stem, 3, 2, "conv_stem")
        x = keras.layers.BatchNormalization(name="bn1", **_BN)(x)
        x = _activation(x, large, "act1")

        total, index, pyramid = sum(len(blocks) for blocks in stages), 0, {}
        for stage, blocks in enumerate(stages):
            for block in blocks:
                rate = float(drop_path_rate) * index / total  # big_net.py: block_idx / block_count
                x = _ghost_bottleneck(x, block, rate, names[index])
                index += 1
            if stage in _PYRAMID_STAGES:
                pyramid[f"stage{_PYRAMID_STAGES.index(stage) + 1}"] = x

        if include_top:
            head = f"blocks.{head_group}.0"
            x = _conv(x, make_divisible(stages[-1][-1].expansion), 1, 1, f"{head}.conv")
            x = keras.layers.BatchNormalization(name=f"{head}.bn1", **_BN)(x)
            x = keras.layers.ReLU(name=f"{head}.act")(x)
            x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
            x = keras.layers.Dense(max(1280, 5 * stages[-1][-1].channels), name="conv_head")(x)
            x = _activation(x, large, "act2")
            x = keras.layers.Dropout(float(dropout), name="drop")(x)
            x = keras.layers.Dense(int(num_classes), name="classifier")(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(stage_channels=ints, stage_depths=ints, width=float, block_style=str, stem_channels=int,
                       num_classes=int,
                       include_top=bool, drop_path_rate=float, dropout=float)

    @property
    def embed_dims(self):
        """Channels of the four pyramid maps (strides 4, 8, 16, 32)."""
        return tuple(int(self.pyramid_outputs[f"stage{i + 1}"].shape[-1]) for i in range(4))

    @property
    def blocks(self):
        """The rounded `GhostBlock`s of each stage (what the enlarging search counts and grows)."""
        return ghostnet_blocks(self.stage_channels, self.stage_depths, self.width, self.block_style)


def _conv(x, filters, kernel, stride, name, depthwise=False):
    """A bias-free conv with torch's symmetric padding (Keras 'same' pads bottom/right at stride 2)."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad")(x)
        padding = "valid"
    if depthwise:
        return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name)(x)


def _activation(x, hard_swish, name):
    """ReLU, or hard-swish as (x / 6) * relu6(x + 3): in this order the converter does not fuse it into a
    HARD_SWISH op, which XNNPACK does not take in int8 files (it takes the int8 MUL and ADD+RELU6)."""
    if not hard_swish:
        return keras.layers.ReLU(name=name)(x)
    gate = keras.layers.Rescaling(1.0, offset=3.0, name=f"{name}.shift")(x)
    gate = keras.layers.ReLU(max_value=6.0, name=f"{name}.gate")(gate)
    scaled = keras.layers.Rescaling(1 / 6, name=f"{name}.scale")(x)
    return keras.layers.Multiply(name=name)([scaled, gate])


def _ghost_module(x, channels, relu, name):
    """Half the channels from a 1x1 conv, the other half from a 3x3 depthwise conv of that half."""
    primary = math.ceil(channels / 2)
    x1 = _conv(x, primary, 1, 1, f"{name}.primary_conv.0")
    x1 = keras.layers.BatchNormalization(name=f"{name}.primary_conv.1", **_BN)(x1)
    if relu:
        x1 = keras.layers.ReLU(name=f"{name}.primary_conv.2")(x1)
    x2 = _conv(x1, primary, 3, 1, f"{name}.cheap_operation.0", depthwise=True)
    x2 = keras.layers.BatchNormalization(name=f"{name}.cheap_operation.1", **_BN)(x2)
    if relu:
        x2 = keras.layers.ReLU(name=f"{name}.cheap_operation.2")(x2)
    return keras.layers.Concatenate(name=f"{name}.concat")([x1, x2])  # widths are even: no slice needed


def _squeeze_excite(x, se_channels, name):
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.pool")(x)
    s = keras.layers.Conv2D(se_channels, 1, activation="relu", name=f"{name}.conv_reduce")(s)
    s = keras.layers.Conv2D(channels, 1, activation="hard_sigmoid", name=f"{name}.conv_expand")(s)
    return keras.layers.Multiply(name=f"{name}.scale")([x, s])


def _ghost_bottleneck(x, block, drop_path_rate, name):
    in_channels = x.shape[-1]
    y = _ghost_module(x, block.expansion, True, f"{name}.ghost1")
    if block.stride > 1:
        y = _conv(y, block.expansion, block.kernel, block.stride, f"{name}.conv_dw", depthwise=True)
        y = keras.layers.BatchNormalization(name=f"{name}.bn_dw", **_BN)(y)
    if block.se_channels:
        y = _squeeze_excite(y, block.se_channels, f"{name}.se")
    y = _ghost_module(y, block.channels, False, f"{name}.ghost2")
    shortcut = x
    if in_channels != block.channels or block.stride > 1:
        shortcut = _conv(x, in_channels, block.kernel, block.stride, f"{name}.shortcut.0", depthwise=True)
        shortcut = keras.layers.BatchNormalization(name=f"{name}.shortcut.1", **_BN)(shortcut)
        shortcut = _conv(shortcut, block.channels, 1, 1, f"{name}.shortcut.2")
        shortcut = keras.layers.BatchNormalization(name=f"{name}.shortcut.3", **_BN)(shortcut)
    if drop_path_rate > 0:
        y = DropPath(drop_path_rate, name=f"{name}.drop_path")(y)
    return keras.layers.Add(name=f"{name}.add")([shortcut, y])


# timm's ghostnet_* eval transform (bicubic, crop 0.875, ImageNet mean/std); ghostnet_100.in1k is the
# official ghostnet_1x.pth. The S-GhostNets: MindSpore checkpoints only (not PyTorch state_dicts).
_INFO = family_info("1911.11907")
_ENLARGED = family_info("2108.00177")
GHOSTNET_CONFIGS = {
    "ghostnet_050": dict(width=0.5),
    "ghostnet_100": dict(width=1.0),
    "ghostnet_130": dict(width=1.3),
    # big_net.py / README.md of research/cv/S-GhostNet: the two published enlarged nets.
    "s_ghostnet_b1": dict(stage_channels=(28, 44, 72, 140, 196, 280), stage_depths=(1, 2, 3, 4, 3, 6),
                          block_style="large", dropout=0.3, input_shape=(240, 240, 3)),
    "s_ghostnet_b4": dict(stage_channels=(36, 60, 108, 168, 232, 336), stage_depths=(3, 5, 5, 12, 6, 14),
                          block_style="large", dropout=0.3, input_shape=(384, 384, 3)),
}


def _variant(name, class_name, info):
    checkpoint = "timm/ghostnet_100.in1k" if name == "ghostnet_100" else None
    return register_variant(GhostNet, name, class_name, GHOSTNET_CONFIGS[name],
                            dataclasses.replace(info, checkpoint=checkpoint))


GhostNet050 = _variant("ghostnet_050", "GhostNet050", _INFO)
GhostNet100 = _variant("ghostnet_100", "GhostNet100", _INFO)
GhostNet130 = _variant("ghostnet_130", "GhostNet130", _INFO)
SGhostNetB1 = _variant("s_ghostnet_b1", "SGhostNetB1", _ENLARGED)
SGhostNetB4 = _variant("s_ghostnet_b4", "SGhostNetB4", _ENLARGED)
