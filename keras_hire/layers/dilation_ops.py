"""The operations of a NADAR dilation cell (DARTS' space, 1806.09055): separable and dilated convs,
pools, skip, none; and their multiply-accumulates, for the FLOPs-aware search (2108.06885, Eq. 10-12).

Each op maps `channels` to `channels` at `stride` 1 or 2 and is a small `keras.Sequential` (or one
layer), so the same builders make the search's mixed operations and the static, discretised cells.
Standard Keras layers plus `FactorizedReduce` (and `Zero`, search only): all TFLite builtins.
"""

import keras

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5")
_BN = dict(epsilon=1e-5, momentum=0.9)


@keras.saving.register_keras_serializable(package="keras_hire")
class Zero(keras.layers.Layer):
    """DARTS' `none`: zeros at the op's output resolution."""

    def __init__(self, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, x):
        return keras.ops.zeros_like(x[:, ::self.stride, ::self.stride, :])

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="keras_hire")
class FactorizedReduce(keras.layers.Layer):
    """ReLU, two stride-2 1x1 convs (the second on the input shifted by one pixel), concat, BN (DARTS)."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        if int(channels) < 2 or int(channels) % 2:
            raise ValueError(f"FactorizedReduce: channels={channels} must be even and >= 2 (two halves). Fix: use "
                             "an even block width per node.")
        self.channels = int(channels)
        half = self.channels // 2
        self.conv_a = keras.layers.Conv2D(half, 1, strides=2, use_bias=False, name="conv_a")
        self.shift = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="shift_pad")
        self.conv_b = keras.layers.Conv2D(half, 1, strides=2, use_bias=False, name="conv_b")
        self.bn = keras.layers.BatchNormalization(name="bn", **_BN)

    def build(self, shape):
        self.conv_a.build(shape)
        self.conv_b.build(shape)
        self.bn.build((*shape[:3], self.channels))

    def call(self, x, training=False):
        x = keras.ops.relu(x)
        shifted = self.shift(x)[:, 1:, 1:, :]
        return self.bn(keras.ops.concatenate([self.conv_a(x), self.conv_b(shifted)], -1), training=training)

    def compute_output_shape(self, shape):
        return (shape[0], *[None if d is None else -(-d // 2) for d in shape[1:3]], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def relu_conv_bn(channels, name):
    """ReLU, 1x1 conv, BN: a cell's input preprocessing."""
    return keras.Sequential([keras.layers.ReLU(), keras.layers.Conv2D(channels, 1, use_bias=False),
                             keras.layers.BatchNormalization(**_BN)], name=name)


def make_op(primitive, channels, stride, name):
    """The layer computing `primitive` from `channels` to `channels` at `stride` (1 or 2)."""
    if primitive not in PRIMITIVES:
        raise ValueError(f"Unknown cell operation {primitive!r}. Fix: use one of {', '.join(PRIMITIVES)}.")
    if primitive == "none":
        return Zero(stride, name=name)
    if primitive == "skip_connect":
        return keras.layers.Identity(name=name) if stride == 1 else FactorizedReduce(channels, name=name)
    if primitive.endswith("pool_3x3"):
        pool = keras.layers.MaxPooling2D if primitive.startswith("max") else keras.layers.AveragePooling2D
        return pool(3, strides=stride, padding="same", name=name)
    kernel = int(primitive[-1])
    if primitive.startswith("sep_conv"):
        layers = []
        for repeat in range(2):
            layers += [keras.layers.ReLU(),
                       keras.layers.DepthwiseConv2D(kernel, strides=stride if repeat == 0 else 1, padding="same",
                                                    use_bias=False),
                       keras.layers.Conv2D(channels, 1, use_bias=False), keras.layers.BatchNormalization(**_BN)]
        return keras.Sequential(layers, name=name)
    # Keras convs cannot combine dilation and stride: the dilated depthwise conv runs at stride 1 and
    # the following 1x1 conv takes the stride (the same as subsampling first; a strided slice would
    # leave XNNPACK, which takes only unit-stride slices).
    return keras.Sequential([keras.layers.ReLU(), keras.layers.DepthwiseConv2D(kernel, padding="same",
                                                                               dilation_rate=2, use_bias=False),
                             keras.layers.Conv2D(channels, 1, strides=stride, use_bias=False),
                             keras.layers.BatchNormalization(**_BN)], name=name)


def op_macs(primitive, channels, stride, in_size):
    """MACs of one op on a `(height, width)` input, counted as the papers do (convs only)."""
    height, width = (-(-in_size[0] // stride), -(-in_size[1] // stride))
    pixels = height * width
    if primitive in ("none", "max_pool_3x3", "avg_pool_3x3") or (primitive == "skip_connect" and stride == 1):
        return 0
    if primitive == "skip_connect":
        return channels * channels * pixels  # two 1x1 convs to half the channels each
    kernel = int(primitive[-1])
    if primitive.startswith("sep_conv"):
        return 2 * (kernel * kernel * channels + channels * channels) * pixels
    # The dilated depthwise conv runs at the input resolution before subsampling.
    return kernel * kernel * channels * in_size[0] * in_size[1] + channels * channels * pixels
