"""Small CNNs for the embedded digits: the backbones of the robustness reproduction (NADAR, 2108.06885).

A stem (3x3 conv, BN, ReLU) and resolution blocks, each a stride-2 3x3 conv then a 3x3 conv (both
BN + ReLU), then global average pooling and a linear classifier. The blocks are what a NADAR
hybrid (`keras_hire.models.NadarHybrid`) attaches its searched cells to, so their graph pieces
(`digits_stem`, `digits_block`) are shared with it. Standard Keras layers only: exports fully to
TFLite builtins and XNNPACK.
"""

import keras

from keras_hire.models.backbone import Backbone, ints, validate_input_shape
from keras_hire.models.registry import family_info, register_variant

_CONV = dict(use_bias=False, padding="same", kernel_initializer="he_normal")
_BN = dict(epsilon=1e-5, momentum=0.9)


def conv_bn_relu(x, filters, stride, name):
    x = keras.layers.Conv2D(filters, 3, strides=stride, name=f"{name}.conv", **_CONV)(x)
    x = keras.layers.BatchNormalization(name=f"{name}.bn", **_BN)(x)
    return keras.layers.ReLU(name=f"{name}.act")(x)


def digits_stem(x, width):
    """The stem: a 3x3 conv at full resolution."""
    return conv_bn_relu(x, width, 1, "stem")


def digits_block(x, width, name):
    """One resolution block: halves the size (stride-2 conv) and maps to `width` channels."""
    return conv_bn_relu(conv_bn_relu(x, width, 2, f"{name}.reduce"), width, 1, f"{name}.mix")


def classifier_head(x, num_classes):
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.layers.Dense(num_classes, name="fc")(x)


def check_widths(family, stem_width, widths, input_shape):
    widths = ints(widths)
    if not widths or min(widths) < 1 or int(stem_width) < 1:
        raise ValueError(f"{family}: stem_width={stem_width} and widths={widths} must be positive, with at least "
                         "one block. Fix: e.g. stem_width=16, widths=(32, 64).")
    min_size = 2 ** len(widths)
    return widths, validate_input_shape(input_shape, family, min_size=min_size,
                                        why=f" ({len(widths)} stride-2 blocks)")


@keras.saving.register_keras_serializable(package="keras_hire")
class DigitsCNN(Backbone):
    """A small block CNN for digits (and any small image).

    Args:
        widths: output channels of each resolution block (each halves the size).
        stem_width: channels of the stem conv.
        num_classes: classifier size (with `include_top`).
        input_shape: `(height, width, channels)`, at least `2 ** len(widths)` pixels a side.
        include_top: add global pooling and the `fc` classifier; else return the last block's map.
        name: model name.

    Blocks are `model.pyramid_outputs` (`"block1"`, ...).

    Example:
    ```python
    model = keras_hire.models.create_model("digits_cnn", num_classes=10, input_shape=(28, 28, 1))
    ```
    """

    def __init__(self, widths=(32, 64), stem_width=16, num_classes=10, input_shape=(28, 28, 1), include_top=True,
                 name="digits_cnn", **kwargs):
        widths, shape = check_widths("DigitsCNN", stem_width, widths, input_shape)
        inputs = keras.Input(shape, name="images")
        x = digits_stem(inputs, int(stem_width))
        pyramid = {}
        for index, width in enumerate(widths):
            x = digits_block(x, width, f"block{index + 1}")
            pyramid[f"block{index + 1}"] = x
        if include_top:
            x = classifier_head(x, int(num_classes))
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(widths=ints, stem_width=int, num_classes=int, include_top=bool)

    def stage_shapes(self):
        return halved_block_shapes(self.inputs[0].shape[1:3], self.widths)


def halved_block_shapes(size, widths):
    """`{block: (height, width, channels)}` of the block maps ('same' stride-2 convs: ceil halving)."""
    height, width = size
    shapes = {}
    for index, channels in enumerate(widths):
        height, width = -(-height // 2), -(-width // 2)
        shapes[f"block{index + 1}"] = (height, width, channels)
    return shapes


_INFO = family_info("2108.06885", input_size=(28, 28), crop_fraction=1.0)
DigitsCNNSmall = register_variant(DigitsCNN, "digits_cnn", "DigitsCNNSmall",
                                  dict(widths=(32, 64), stem_width=16, input_shape=(28, 28, 1)), _INFO)
# The backbone widened to about the FLOPs of the reproduction's NADAR hybrid (the control).
DigitsCNNWide = register_variant(DigitsCNN, "digits_cnn_wide", "DigitsCNNWide",
                                 dict(widths=(48, 96), stem_width=16, input_shape=(28, 28, 1)), _INFO)
