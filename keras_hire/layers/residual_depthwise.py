"""`x + DepthwiseConv(x)` as one depthwise conv: the identity folded into the kernel's centre tap."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_hire")
class ResidualDepthwiseConv2D(keras.layers.DepthwiseConv2D):
    """A stride-1 "same" depthwise conv plus its input, computed as a single depthwise conv.

    `x + dwconv(x)` equals `dwconv'(x)` where `dwconv'` has 1 added to the centre tap of every
    channel's kernel. The variables are a plain `DepthwiseConv2D`'s (`kernel`, `bias`), so
    weights load and save unchanged; only the graph loses one full-size ADD (a pass over the
    whole feature map) per use.

    Args:
        kernel_size: odd int or pair of odd ints.
        **kwargs: any `keras.layers.DepthwiseConv2D` argument except `strides`, `padding`,
            `dilation_rate` and `depth_multiplier`, which are fixed to 1, "same", 1 and 1.

    Example:
    ```python
    lpu = keras_hire.layers.ResidualDepthwiseConv2D(3)
    y = lpu(x)  # == x + keras.layers.DepthwiseConv2D(3, padding="same")(x) with the same weights
    ```
    """

    def __init__(self, kernel_size, **kwargs):
        for fixed, value in (("strides", 1), ("padding", "same"), ("dilation_rate", 1), ("depth_multiplier", 1)):
            given = kwargs.pop(fixed, value)
            if given not in (value, (value, value)):
                raise ValueError(f"ResidualDepthwiseConv2D fixes {fixed}={value!r}; received {given!r}.")
        super().__init__(kernel_size, padding="same", **kwargs)
        if any(size % 2 == 0 for size in self.kernel_size):
            raise ValueError(
                f"ResidualDepthwiseConv2D needs an odd kernel_size (a centre tap); received {self.kernel_size}."
            )

    def build(self, input_shape):
        super().build(input_shape)
        height, width = self.kernel_size
        centre = np.zeros((height, width, int(self._get_input_channel(input_shape)), 1), np.float32)
        centre[height // 2, width // 2] = 1.0
        self._centre_tap = centre

    def residual_kernel(self):
        """The depthwise kernel with the identity folded in: `kernel + centre tap`."""
        return self.kernel + ops.cast(self._centre_tap, self.kernel.dtype)

    def call(self, inputs):
        outputs = ops.depthwise_conv(
            inputs, self.residual_kernel(), strides=1, padding="same", data_format=self.data_format
        )
        if self.use_bias:
            channels_last = self.data_format == "channels_last"
            outputs = outputs + ops.reshape(self.bias, (1, 1, 1, -1) if channels_last else (1, -1, 1, 1))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        for fixed in ("strides", "padding", "dilation_rate", "depth_multiplier"):
            config.pop(fixed, None)
        return config
