"""Native Keras 3 QAT layers: Dense, Conv2D and DepthwiseConv2D with TFMOT's default 8-bit scheme.

Weights: symmetric, narrow range, per output channel (Conv2D, DepthwiseConv2D) or per tensor (Dense),
the range the current largest magnitude (TFMOT's last-value quantizer). Input and output: per-tensor
asymmetric ranges tracked as moving averages of the batch min and max (TFMOT's moving-average
quantizer, decay 0.999), each range holding 0. The int8 file needs both: every int8 kernel takes an
int8 input and gives an int8 output, and what lies between two products (LayerNorm, GELU, softmax, the
residual adds) stays float, as TFMOT leaves unsupported layers.

`prepare_native_qat` does not rebuild the model: keras_hire's families build these products inside
their own layers (attention, Hire module, CMT's FFN), out of reach of `clone_model`, so each product
of a clone is turned in place into its QAT class (`enable_qat`), as Keras' own `quantize()` does.
"""

import inspect

import keras
from keras import ops

from keras_hire.methods.quantization.qat_ops import fake_quant_tensor_range, fake_quant_weights

EMA_DECAY = 0.999  # TFMOT's MovingAverageQuantizer
_RANGE_KEYS = ("qat_input_range", "qat_output_range")


class _RangeObserver:
    """Fake quantization over a range variable that follows the batches (calibration, EMA, or fixed)."""

    def _adopt_call_signature(self):
        """Keras read the old class's `call` signature at construction; without this it would never pass
        `training` to the new `call` (Conv2D's and Dense's take none), and the ranges would never move."""
        self._call_signature = inspect.signature(self.call)
        self.call_signature_parameters = [p.name for p in self._call_signature.parameters.values()]
        self._call_has_training_arg = "training" in self.call_signature_parameters
        self._call_has_mask_arg = "mask" in self.call_signature_parameters
        self._call_has_context_arg = {arg: arg in self.call_signature_parameters for arg in self._call_context_args}

    def _add_range(self, name):
        self._tracker.unlock()  # a built layer's state is locked; Keras' quantize() unlocks it the same way
        variable = self.add_weight(shape=(2,), initializer="zeros", trainable=False, autocast=False, name=name)
        self._tracker.lock()
        return variable

    def _observe(self, x, variable, training):
        """`x` fake-quantized over `variable`'s range, updating the range first when training."""
        batch = ops.stack([ops.minimum(ops.min(x), 0.0), ops.maximum(ops.max(x), 0.0)])
        batch = ops.cast(batch, "float32")
        if self.calibrating:
            seen = ops.stack([ops.minimum(variable[0], batch[0]), ops.maximum(variable[1], batch[1])])
            variable.assign(seen)
            return x
        value_range = variable
        if training:
            value_range = self.ema_decay * variable + (1.0 - self.ema_decay) * batch
            variable.assign(value_range)
        return fake_quant_tensor_range(x, value_range[0], value_range[1])


class QatProduct(_RangeObserver):
    """What the QAT Dense, Conv2D and DepthwiseConv2D share: the two observed ranges and their state.

    Attributes set by `enable_qat`: `input_range` and `output_range` (non-trainable `(2,)` float32
    variables `[low, high]`), `ema_decay`, `calibrating` (while True, calls are float and widen the
    ranges to the min and max seen: `minmax` initialisation) and `quantize_output` (False when a
    BatchNormalization follows, which then quantizes its own output: TFMOT's Conv + BN fold).
    """

    def enable_qat(self, ema_decay=EMA_DECAY):
        if not self.built:
            raise ValueError(f"{self.name}: build the model before enabling QAT on it.")
        if getattr(self, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"{self.name}: native QAT supports channels_last layers only.")
        self._adopt_call_signature()
        self.input_range = self._add_range("qat_input_range")
        self.output_range = self._add_range("qat_output_range")
        self.ema_decay = float(ema_decay)
        self.calibrating = False
        self.quantize_output = True
        self.on_output = None  # while tracing (prepare_native_qat): called with each output and this layer

    def _product(self, x, kernel):
        raise NotImplementedError

    def _quantized_kernel(self):
        return fake_quant_weights(self.kernel, per_channel=True)

    def call(self, inputs, training=None):
        x = self._observe(inputs, self.input_range, training)
        kernel = self.kernel if self.calibrating else self._quantized_kernel()
        y = self._product(x, kernel)
        if self.bias is not None:
            y = ops.add(y, self.bias)  # channels_last: the channel axis is last
        if self.activation is not None:
            y = self.activation(y)
        if self.quantize_output:
            y = self._observe(y, self.output_range, training)
        if self.on_output is not None:
            self.on_output((y, self))
        return y

    def _own_values(self):
        """What a weight file holds for this layer: `"0"` kernel, `"1"` bias (if any), then the two ranges."""
        kernel = self._kernel if hasattr(self, "_kernel") else self.kernel  # Dense/Conv keep it behind a property
        values = {"0": kernel}
        if self.bias is not None:
            values["1"] = self.bias
        values.update(zip(_RANGE_KEYS, (self.input_range, self.output_range)))
        return values

    def save_own_variables(self, store):
        if self.built:
            for key, variable in self._own_values().items():
                store[key] = variable

    def load_own_variables(self, store):
        if not self.built:
            return
        expected = self._own_values()
        if sorted(store.keys()) != sorted(expected):
            raise ValueError(f"{self.name}: the weight file holds {sorted(store.keys())}, this QAT layer needs "
                             f"{sorted(expected)}. Fix: load a checkpoint of the same QAT model (a float model's "
                             "weights go in before prepare_native_qat).")
        for key, variable in expected.items():
            variable.assign(store[key])


class QatDense(QatProduct, keras.layers.Dense):
    """A `Dense` trained with fake-quantized input, kernel (one range, as TFMOT's Dense) and output."""

    def _quantized_kernel(self):
        return fake_quant_weights(self.kernel, per_channel=False)

    def _product(self, x, kernel):
        return ops.matmul(x, kernel)


class QatConv2D(QatProduct, keras.layers.Conv2D):
    """A `Conv2D` (any groups) trained with fake-quantized input, kernel (per filter) and output."""

    def _product(self, x, kernel):
        return self.convolution_op(x, kernel)


class QatDepthwiseConv2D(QatProduct, keras.layers.DepthwiseConv2D):
    """A `DepthwiseConv2D` trained with fake-quantized input, kernel (per output channel) and output."""

    def _quantized_kernel(self):
        # (h, w, in, multiplier) has in * multiplier output channels, TFLite's last axis.
        height, width, channels, multiplier = self.kernel.shape
        flat = ops.reshape(self.kernel, (height, width, channels * multiplier))
        return ops.reshape(fake_quant_weights(flat, per_channel=True), self.kernel.shape)

    def _product(self, x, kernel):
        return ops.depthwise_conv(x, kernel, strides=self.strides, padding=self.padding,
                                  dilation_rate=self.dilation_rate, data_format=self.data_format)


class QatBatchNormalization(_RangeObserver, keras.layers.BatchNormalization):
    """A BatchNormalization fed straight by a QAT convolution: TFMOT's Conv + BN fold.

    The convolution's output is left float and this layer's output quantized, so the converter folds
    the BatchNorm into the int8 convolution (one int8 kernel, no float multiply-add after it). In
    training the BatchNorm normalises with the batch statistics as usual. Before `enable_qat` (while
    `prepare_native_qat` looks for the pairs) it is a plain BatchNormalization that records its inputs.
    """

    on_input = None  # while tracing: called with each input and this layer
    output_range = None

    def enable_qat(self, ema_decay=EMA_DECAY):
        self._adopt_call_signature()
        self.output_range = self._add_range("qat_output_range")
        self.ema_decay = float(ema_decay)
        self.calibrating = False

    def call(self, inputs, training=None, mask=None):
        if self.on_input is not None:
            self.on_input((inputs, self))
        y = super().call(inputs, training=training, mask=mask)
        return y if self.output_range is None else self._observe(y, self.output_range, training)


# Exact classes only: a subclass (a fake-quant layer, a circulant Dense) computes something else.
QAT_CLASSES = {keras.layers.Dense: QatDense, keras.layers.Conv2D: QatConv2D,
               keras.layers.DepthwiseConv2D: QatDepthwiseConv2D}
