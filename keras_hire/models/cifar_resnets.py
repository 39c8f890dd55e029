"""ResNets in the CIFAR layout (32x32 inputs): ResNet-18 and WideResNet-34-10, the robustness backbones.

- `CifarResNet18`: the layout of the adversarial-training literature (kuangliu/pytorch-cifar, used
  by TRADES, RobustBench): a 3x3 stride-1 stem without max pool, four stages of post-activation
  basic blocks (64, 128, 256, 512; strides 1, 2, 2, 2; 1x1 conv + BN projection shortcuts), global
  average pooling, linear. 11,173,962 parameters at 10 classes.
- `CifarWRN34_10`: Zagoruyko & Komodakis' WideResNet as Madry/TRADES/NADAR train it: a 3x3 stem
  to 16 channels, three stages of (34 - 4) / 6 = 5 pre-activation blocks at widths 160, 320, 640
  (strides 1, 2, 2; BN-ReLU-conv-BN-ReLU-conv; a 1x1 shortcut conv on the pre-activated input when
  the width changes), a final BN-ReLU, pooling, linear. 46,160,474 parameters at 10 classes.

Separate from `keras_hire.models.resnet` (the ImageNet layout with its 7x7 stem and max pool).
"""

import keras

from keras_hire.models.backbone import Backbone, ints, validate_input_shape
from keras_hire.models.registry import family_info, register_variant

BLOCKS = ("basic", "preact")
_CONV = dict(use_bias=False, padding="same", kernel_initializer=keras.initializers.VarianceScaling(
    2.0, "fan_out", "untruncated_normal"))
_BN = dict(epsilon=1e-5, momentum=0.9)


def _bn(x, name):
    return keras.layers.BatchNormalization(name=name, **_BN)(x)


def _relu(x, name):
    return keras.layers.ReLU(name=name)(x)


def _conv(x, filters, kernel, stride, name):
    return keras.layers.Conv2D(filters, kernel, strides=stride, name=name, **_CONV)(x)


def basic_block(x, width, stride, name):
    """Post-activation basic block (ResNet-18): conv-BN-ReLU-conv-BN + shortcut, then ReLU."""
    y = _relu(_bn(_conv(x, width, 3, stride, f"{name}.conv1"), f"{name}.bn1"), f"{name}.act1")
    y = _bn(_conv(y, width, 3, 1, f"{name}.conv2"), f"{name}.bn2")
    shortcut = x
    if stride != 1 or x.shape[-1] != width:
        shortcut = _bn(_conv(x, width, 1, stride, f"{name}.shortcut.0"), f"{name}.shortcut.1")
    return _relu(keras.layers.Add(name=f"{name}.add")([shortcut, y]), f"{name}.act2")


def preact_block(x, width, stride, name):
    """Pre-activation wide block (WRN): BN-ReLU-conv-BN-ReLU-conv + shortcut (no ReLU after the sum)."""
    activated = _relu(_bn(x, f"{name}.bn1"), f"{name}.relu1")
    y = _conv(activated, width, 3, stride, f"{name}.conv1")
    y = _conv(_relu(_bn(y, f"{name}.bn2"), f"{name}.relu2"), width, 3, 1, f"{name}.conv2")
    same = stride == 1 and x.shape[-1] == width
    shortcut = x if same else _conv(activated, width, 1, stride, f"{name}.convShortcut")
    return keras.layers.Add(name=f"{name}.add")([shortcut, y])


@keras.saving.register_keras_serializable(package="keras_hire")
class CifarResNet(Backbone):
    """ResNets for 32x32 images, in the CIFAR layout (no stride in the stem, no max pool).

    Args:
        block: `"basic"` (post-activation, ResNet-18) or `"preact"` (pre-activation, WideResNet).
        depths: blocks per stage.
        widths: output channels per stage.
        strides: stride of each stage's first block.
        stem_width: channels of the 3x3 stem (64 for ResNet-18, 16 for WRN).
        num_classes: classifier size (with `include_top`).
        input_shape: `(height, width, channels)`; at least 8x8 (any size; 32x32 is the layout's).
        include_top: add pooling and the `fc` classifier.
        name: model name.

    Example:
    ```python
    model = keras_hire.models.create_model("cifar_wrn34_10", num_classes=10)
    ```
    """

    def __init__(self, block="basic", depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), strides=(1, 2, 2, 2),
                 stem_width=64, num_classes=10, input_shape=(32, 32, 3), include_top=True, name="cifar_resnet",
                 **kwargs):
        if block not in BLOCKS:
            raise ValueError(f"CifarResNet: block={block!r}; expected one of {BLOCKS}. Fix: block='basic' (ResNet) "
                             "or 'preact' (WideResNet).")
        depths, widths, strides = ints(depths), ints(widths), ints(strides)
        if not (len(depths) == len(widths) == len(strides)) or min(depths + widths + strides) < 1:
            raise ValueError(f"CifarResNet: depths={depths}, widths={widths}, strides={strides} need one positive "
                             "entry per stage each. Fix: e.g. depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), "
                             "strides=(1, 2, 2, 2).")
        shape = validate_input_shape(input_shape, "CifarResNet", min_size=8)
        inputs = keras.Input(shape, name="images")
        x = _conv(inputs, int(stem_width), 3, 1, "conv1")
        if block == "basic":
            x = _relu(_bn(x, "bn1"), "act1")
        make = basic_block if block == "basic" else preact_block
        pyramid = {}
        for stage, (depth, width, stride) in enumerate(zip(depths, widths, strides)):
            for j in range(depth):
                x = make(x, width, stride if j == 0 else 1, f"layer{stage + 1}.{j}")
            pyramid[f"stage{stage + 1}"] = x
        if block == "preact":
            x = _relu(_bn(x, "bn_final"), "relu_final")
        if include_top:
            x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
            x = keras.layers.Dense(int(num_classes), name="fc")(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(block=str, depths=ints, widths=ints, strides=ints, stem_width=int, num_classes=int,
                       include_top=bool)

    def stage_shapes(self):
        """`{stage: (height, width, channels)}` of the stage outputs ('same' convs: ceil division)."""
        height, width, _ = self.inputs[0].shape[1:]
        shapes = {}
        for index, (channels, stride) in enumerate(zip(self.widths, self.strides)):
            height, width = -(-height // stride), -(-width // stride)
            shapes[f"stage{index + 1}"] = (height, width, channels)
        return shapes


_INFO = family_info("2108.06885", input_size=(32, 32), crop_fraction=1.0)
CifarResNet18 = register_variant(CifarResNet, "cifar_resnet18", "CifarResNet18", dict(
    block="basic", depths=(2, 2, 2, 2), widths=(64, 128, 256, 512), strides=(1, 2, 2, 2), stem_width=64,
    input_shape=(32, 32, 3)), _INFO)
CifarWRN34_10 = register_variant(CifarResNet, "cifar_wrn34_10", "CifarWRN34_10", dict(
    block="preact", depths=(5, 5, 5), widths=(160, 320, 640), strides=(1, 2, 2), stem_width=16,
    input_shape=(32, 32, 3)), _INFO)
