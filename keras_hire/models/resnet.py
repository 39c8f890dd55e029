"""ResNet (He et al., arXiv 1512.03385), as timm/torchvision build it (v1.5: stride on the 3x3 conv).

Layer names are timm's module paths (`conv1`, `bn1`, `layer1.0.conv2`, `layer2.0.downsample.0`,
`fc`), so timm and torchvision state_dicts load by rule through `keras_hire.convert`. Only
standard Keras layers are used (Conv2D, BatchNormalization, ReLU, Add, pooling, Dense), so that
quantization-aware tooling that knows those layers takes the whole model.
"""

import keras

from keras_hire.models.backbone import Backbone, ints, validate_head, validate_input_shape
from keras_hire.models.registry import family_info, register_variant

RESNET_CONFIGS = {
    "resnet18": dict(block="basic", depths=(2, 2, 2, 2)),
    "resnet34": dict(block="basic", depths=(3, 4, 6, 3)),
    "resnet50": dict(block="bottleneck", depths=(3, 4, 6, 3)),
    "resnet101": dict(block="bottleneck", depths=(3, 4, 23, 3)),
}
EXPANSION = {"basic": 1, "bottleneck": 4}
_BN = dict(epsilon=1e-5, momentum=0.9)  # torch BatchNorm2d: eps 1e-5, momentum 0.1 (= Keras 0.9)


def _kaiming():
    """timm/torchvision's conv init (kaiming normal, fan_out, ReLU gain); a new instance per layer, as an
    unseeded Keras initializer instance repeats its values."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def stage_channels(block, channels):
    """Output channels of each stage (the pyramid widths): `channels` times the block expansion."""
    return tuple(int(c) * EXPANSION[block] for c in channels)


def check_resnet_arguments(family, block, depths, channels):
    """Raises a ValueError naming the fix for a bad block type, depth or width list."""
    if block not in EXPANSION:
        raise ValueError(f"{family}: block must be 'basic' or 'bottleneck'; received block={block!r}.")
    if len(depths) != len(channels):
        raise ValueError(f"{family}: depths={tuple(depths)} and channels={tuple(channels)} must have one entry "
                         "per stage each.")
    if any(int(d) < 1 for d in depths) or any(int(c) < 1 for c in channels):
        raise ValueError(f"{family}: every stage needs at least one block and one channel; received "
                         f"depths={tuple(depths)}, channels={tuple(channels)}.")


def resnet_graph(x, block, depths, channels, stem_width, layer, norm):
    """The stem and stages of a ResNet on tensor `x`; returns `(last feature map, {stageN: map})`.

    `layer(name, make)` returns the layer called `name`, making it with `make()` the first time, so
    that several graphs built through the same `layer` share their convolutions. `norm(x, name)`
    applies the normalisation called `name` (a BatchNormalization here, a resolution-aware one in
    the DRNet classifier).
    """
    x = _conv(x, layer, "conv1", stem_width, 7, 2)
    x = norm(x, "bn1")
    x = layer("act1", lambda: keras.layers.ReLU(name="act1"))(x)
    # After a ReLU every value is >= 0, so zero padding equals torch's -inf padding of the max pool.
    x = layer("maxpool.pad", lambda: keras.layers.ZeroPadding2D(1, name="maxpool.pad"))(x)
    x = layer("maxpool", lambda: keras.layers.MaxPooling2D(3, strides=2, name="maxpool"))(x)
    pyramid, width_in = {}, stem_width
    for stage, (depth, width) in enumerate(zip(depths, channels)):
        for j in range(depth):
            stride = 2 if stage > 0 and j == 0 else 1
            name = f"layer{stage + 1}.{j}"
            x = _block(x, block, width, stride, width_in, layer, norm, name)
            width_in = width * EXPANSION[block]
        pyramid[f"stage{stage + 1}"] = x
    return x, pyramid


def _conv(x, layer, name, filters, kernel, stride):
    """A bias-free conv with torch's symmetric padding (Keras 'same' pads bottom/right at stride 2)."""
    if kernel > 1:
        x = layer(f"{name}.pad", lambda: keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}.pad"))(x)
    return layer(name, lambda: keras.layers.Conv2D(filters, kernel, strides=stride, name=name, use_bias=False,
                                                         kernel_initializer=_kaiming()))(x)


def _block(x, block, width, stride, width_in, layer, norm, name):
    shortcut = x
    if block == "basic":
        y = norm(_conv(x, layer, f"{name}.conv1", width, 3, stride), f"{name}.bn1")
        y = layer(f"{name}.act1", lambda: keras.layers.ReLU(name=f"{name}.act1"))(y)
        y = norm(_conv(y, layer, f"{name}.conv2", width, 3, 1), f"{name}.bn2")
        last_act = f"{name}.act2"
    else:
        y = norm(_conv(x, layer, f"{name}.conv1", width, 1, 1), f"{name}.bn1")
        y = layer(f"{name}.act1", lambda: keras.layers.ReLU(name=f"{name}.act1"))(y)
        y = norm(_conv(y, layer, f"{name}.conv2", width, 3, stride), f"{name}.bn2")
        y = layer(f"{name}.act2", lambda: keras.layers.ReLU(name=f"{name}.act2"))(y)
        y = norm(_conv(y, layer, f"{name}.conv3", width * 4, 1, 1), f"{name}.bn3")
        last_act = f"{name}.act3"
    width_out = width * EXPANSION[block]
    if stride != 1 or width_in != width_out:
        shortcut = _conv(x, layer, f"{name}.downsample.0", width_out, 1, stride)
        shortcut = norm(shortcut, f"{name}.downsample.1")
    y = layer(f"{name}.add", lambda: keras.layers.Add(name=f"{name}.add"))([shortcut, y])
    return layer(last_act, lambda: keras.layers.ReLU(name=last_act))(y)


def shared_layers():
    """A `layer(name, make)` for `resnet_graph` that makes each named layer once and then reuses it."""
    made = {}

    def layer(name, make):
        if name not in made:
            made[name] = make()
        return made[name]

    layer.made = made
    return layer


@keras.saving.register_keras_serializable(package="keras_hire")
class ResNet(Backbone):
    """The ResNet family (timm's `resnet18/34/50/101`): a 7x7 stem, max pool and four stages.

    Args:
        block: `"basic"` (two 3x3 convs; ResNet-18/34) or `"bottleneck"` (1x1-3x3-1x1 with 4x
            expansion, the stride on the 3x3; ResNet-50/101).
        depths: blocks per stage, e.g. `(3, 4, 6, 3)`.
        channels: inner widths per stage, `(64, 128, 256, 512)` in every official variant; a
            stage outputs `channels[i]` (basic) or `4 * channels[i]` (bottleneck) channels.
        num_classes: classifier size; used when `include_top=True`.
        input_shape: `(height, width, channels)`; any size of at least 32x32 pixels (five stride-2
            steps). Multiples of 32 give exact strides 4..32 for the pyramid.
        stem_width: channels of the 7x7 stem conv; 64 in every official variant and fixed at 64 in
            timm's plain stem (its `stem_width` applies to deep stems only). Smaller for tiny models.
        include_top: whether to add global average pooling and the `fc` classifier; without it
            the model returns the last stage's feature map.
        zero_init_last: start each block's last BatchNorm scale at 0 (timm's default) instead
            of 1 (torchvision's, the default here).
        name: model name.

    The stage outputs are `model.pyramid_outputs` (`"stage1"`..`"stage4"`, strides 4 to 32) and
    `model.feature_extractor()`; their widths are `model.embed_dims`.

    Example:
    ```python
    model = keras_hire.models.ResNet50(num_classes=10, input_shape=(160, 160, 3))
    keras_hire.convert.load_pytorch_weights(model, timm_state_dict, skip=("fc.",))
    ```
    """

    def __init__(
        self,
        block,
        depths,
        channels=(64, 128, 256, 512),
        stem_width=64,
        num_classes=1000,
        input_shape=(224, 224, 3),
        include_top=True,
        zero_init_last=False,
        name="resnet",
        **kwargs,
    ):
        check_resnet_arguments("ResNet", block, depths, channels)
        validate_head("ResNet", num_classes, include_top)
        height, width, in_channels = validate_input_shape(
            input_shape, "ResNet", min_size=32, why=" (the stem and stages halve the size five times)")
        depths, channels = ints(depths), ints(channels)

        def norm(x, norm_name):
            last = norm_name.endswith(".bn3" if block == "bottleneck" else ".bn2")
            gamma = "zeros" if zero_init_last and last else "ones"
            return keras.layers.BatchNormalization(name=norm_name, gamma_initializer=gamma, **_BN)(x)

        inputs = keras.Input((height, width, in_channels), name="images")
        x, pyramid = resnet_graph(inputs, block, depths, channels, int(stem_width), shared_layers(), norm)
        if include_top:
            x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
            x = keras.layers.Dense(num_classes, name="fc")(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(block=str, depths=ints, channels=ints, stem_width=int, num_classes=int, include_top=bool,
                       zero_init_last=bool)

    @property
    def embed_dims(self):
        """Output channels of the four stages (the pyramid widths)."""
        return stage_channels(self.block, self.channels)


# timm's eval transform for these weights: crop 0.95 for the a1_in1k recipes, 0.875 for torchvision's.
_INFO = family_info("1512.03385", crop_fraction=0.875)
ResNet18 = register_variant(ResNet, "resnet18", "ResNet18", RESNET_CONFIGS["resnet18"], _INFO)
ResNet34 = register_variant(ResNet, "resnet34", "ResNet34", RESNET_CONFIGS["resnet34"], _INFO)
ResNet50 = register_variant(ResNet, "resnet50", "ResNet50", RESNET_CONFIGS["resnet50"], _INFO)
ResNet101 = register_variant(ResNet, "resnet101", "ResNet101", RESNET_CONFIGS["resnet101"], _INFO)
