"""The two small networks of the FedPU experiments (2106.10904), as released in
`littleSunlxy/FedPU-torch/modules/model.py`: `CNNMnist` (MNIST) and the CIFAR-10 `ResNet9`.

Layer for layer as the official PyTorch modules (PyTorch's BatchNorm epsilon and momentum; the
trainable parameter counts equal `sum(p.numel() for p in model.parameters())`: 18,158 and 6,575,370).
One difference: Keras flattens feature maps in (height, width, channels) order and PyTorch in
(channels, height, width), so a ported `fc1` kernel needs its rows permuted (no official checkpoint
is published, so no converter is provided).

```python
model = keras_hire.models.create_model("fedpu_cnn_mnist")          # 28x28x1 digits, 10 classes
model = keras_hire.models.create_model("fedpu_resnet9", num_classes=10)  # 32x32x3
```
"""

import keras

from keras_hire.models.backbone import Backbone, ints, validate_head, validate_input_shape, validate_rates
from keras_hire.models.registry import family_info, register_variant

# PyTorch's BatchNorm2d defaults: eps 1e-5, running stats updated with momentum 0.1.
_BN = dict(epsilon=1e-5, momentum=0.9)


@keras.saving.register_keras_serializable(package="keras_hire")
class CNNMnist(Backbone):
    """The FedPU MNIST network: conv 5x5 -> pool -> ReLU, conv 5x5 -> channel dropout -> pool -> ReLU,
    FC -> ReLU -> dropout -> FC. Convolutions are unpadded, so the FC width follows the input size.

    Args:
        num_classes: outputs of the last layer.
        input_shape: `(height, width, channels)`; height and width at least 16.
        conv_channels: output channels of the two convolutions (official `(3, 20)`).
        hidden_units: width of the hidden FC layer (official 50).
        dropout: rate of the channel dropout after conv2 and of the dropout after fc1 (official 0.5).
        include_top: keep the classifier (`False`: the flattened features).

    Example:
    ```python
    model = CNNMnist(num_classes=10, input_shape=(28, 28, 1))
    ```
    """

    def __init__(self, num_classes=10, input_shape=(28, 28, 1), conv_channels=(3, 20), hidden_units=50,
                 dropout=0.5, include_top=True, name="cnn_mnist", **kwargs):
        height, width, channels = validate_input_shape(
            input_shape, "CNNMnist", min_size=16, why=" (two unpadded 5x5 convolutions and two 2x2 poolings)")
        conv_channels = ints(conv_channels)
        if len(conv_channels) != 2 or min(conv_channels) < 1:
            raise ValueError(f"CNNMnist: conv_channels={conv_channels} must be two positive widths, e.g. (3, 20).")
        validate_head("CNNMnist", num_classes, include_top)
        validate_rates("CNNMnist", dropout=dropout)
        inputs = keras.Input((height, width, channels), name="image")
        x = keras.layers.Conv2D(conv_channels[0], 5, name="conv1")(inputs)
        x = keras.layers.ReLU(name="relu1")(keras.layers.MaxPooling2D(2, name="pool1")(x))
        stage1 = x
        x = keras.layers.Conv2D(conv_channels[1], 5, name="conv2")(x)
        x = keras.layers.SpatialDropout2D(dropout, seed=0, name="conv2_drop")(x)  # torch's Dropout2d
        x = keras.layers.ReLU(name="relu2")(keras.layers.MaxPooling2D(2, name="pool2")(x))
        stage2 = x
        x = keras.layers.Flatten(name="flatten")(x)
        if include_top:
            x = keras.layers.Dense(hidden_units, activation="relu", name="fc1")(x)
            x = keras.layers.Dropout(dropout, seed=1, name="fc1_drop")(x)
            x = keras.layers.Dense(num_classes, name="fc2")(x)
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs={"stage1": stage1, "stage2": stage2},
                         name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(num_classes=int, conv_channels=ints, hidden_units=int, dropout=float, include_top=bool)

    def stage_shapes(self):
        """`{stage: (height, width, channels)}` of the feature maps, by the official arithmetic."""
        height, width, _ = self.inputs[0].shape[1:]
        first = ((height - 4) // 2, (width - 4) // 2)
        second = ((first[0] - 4) // 2, (first[1] - 4) // 2)
        return {"stage1": (*first, self.conv_channels[0]), "stage2": (*second, self.conv_channels[1])}


def _conv_block(x, filters, name, pool=False):
    """The official `conv_block`: conv 3x3 (with bias) -> BatchNorm -> ReLU (-> max-pool 2)."""
    x = keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(**_BN, name=f"{name}_bn")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x) if pool else x


@keras.saving.register_keras_serializable(package="keras_hire")
class ResNet9(Backbone):
    """The FedPU CIFAR-10 ResNet9: conv 64, conv 128 + pool, two residual convs 128, conv 256 + pool,
    conv 512 + pool, two residual convs 512, max-pool 4, FC.

    Args:
        num_classes: outputs of the classifier.
        input_shape: `(height, width, channels)`, height and width at least 32 (three 2x2 poolings,
            then the official 4x4 max-pool).
        widths: channels of conv1, conv2/res1, conv3, conv4/res2 (official `(64, 128, 256, 512)`).
        include_top: keep the classifier (`False`: the pooled, flattened features).

    Example:
    ```python
    model = ResNet9(num_classes=10, input_shape=(32, 32, 3))
    ```
    """

    pyramid_strides = (1, 2, 4, 8)

    def __init__(self, num_classes=10, input_shape=(32, 32, 3), widths=(64, 128, 256, 512), include_top=True,
                 name="resnet9", **kwargs):
        height, width, channels = validate_input_shape(
            input_shape, "ResNet9", min_size=32, why=" (three 2x2 poolings and the final 4x4 max-pool)")
        widths = ints(widths)
        if len(widths) != 4 or min(widths) < 1:
            raise ValueError(f"ResNet9: widths={widths} must be four positive widths, e.g. (64, 128, 256, 512).")
        validate_head("ResNet9", num_classes, include_top)
        inputs = keras.Input((height, width, channels), name="image")
        stage1 = _conv_block(inputs, widths[0], "conv1")
        x = _conv_block(stage1, widths[1], "conv2", pool=True)
        residual = _conv_block(_conv_block(x, widths[1], "res1_0"), widths[1], "res1_1")
        stage2 = keras.layers.Add(name="res1_add")([residual, x])
        stage3 = _conv_block(stage2, widths[2], "conv3", pool=True)
        x = _conv_block(stage3, widths[3], "conv4", pool=True)
        residual = _conv_block(_conv_block(x, widths[3], "res2_0"), widths[3], "res2_1")
        stage4 = keras.layers.Add(name="res2_add")([residual, x])
        x = keras.layers.Flatten(name="flatten")(keras.layers.MaxPooling2D(4, name="classifier_pool")(stage4))
        if include_top:
            x = keras.layers.Dense(num_classes, name="classifier_fc")(x)
        pyramid = {"stage1": stage1, "stage2": stage2, "stage3": stage3, "stage4": stage4}
        super().__init__(inputs=inputs, outputs=x, pyramid_outputs=pyramid, name=name, **kwargs)
        self.keep_config(locals())

    config_keys = dict(num_classes=int, widths=ints, include_top=bool)

    def stage_shapes(self):
        """`{stage: (height, width, channels)}` of the feature maps (strides 1, 2, 4, 8)."""
        height, width, _ = self.inputs[0].shape[1:]
        return {f"stage{i + 1}": (height // stride, width // stride, self.widths[i])
                for i, stride in enumerate(self.pyramid_strides)}


FedPUCNNMnist = register_variant(
    CNNMnist, "fedpu_cnn_mnist", "FedPUCNNMnist", dict(input_shape=(28, 28, 1)),
    family_info("2106.10904", crop_fraction=1.0, mean=(0.1307 * 255,), std=(0.3081 * 255,)))
FedPUResNet9 = register_variant(
    ResNet9, "fedpu_resnet9", "FedPUResNet9", dict(input_shape=(32, 32, 3)),
    family_info("2106.10904", crop_fraction=1.0, mean=(0.4914 * 255, 0.4822 * 255, 0.4465 * 255),
                std=(0.2023 * 255, 0.1994 * 255, 0.2010 * 255)))
