"""Keras layers that simulate the searched quantization: fake-quantized Dense, Conv2D and self-attention.

Each keeps the float layer's weights untouched and adds a non-trainable `bias_correction` (Eq. 16, one
value per output channel) after the product, so the float weights, the intervals and the correction can
be read back separately (the int8 export folds the correction into the bias). `output_range` (None in
the paper's simulation) also requantizes the product's output to 8 bits over a calibrated range: the
int8 file needs it wherever an int8 kernel's output is not the input of another quantized product.
"""

import keras
from keras import ops

from keras_hire.layers.attention import MultiHeadSelfAttention, merge_heads, split_heads
from keras_hire.methods.quantization.fake_quant_ops import fake_quant, fake_quant_range


def _float_or_none(value):
    return None if value is None else float(value)


def _range_or_none(value_range):
    return None if value_range is None else [float(value_range[0]), float(value_range[1])]


class _FakeQuantProduct:
    """What the fake-quantized Dense and Conv2D share: the intervals and bits, their config, and the
    non-trainable `bias_correction` (Dense and Conv2D save only kernel and bias, by index: this saves it too)."""

    def _keep_intervals(self, input_delta, weight_delta, bits, output_range):
        self.input_delta = _float_or_none(input_delta)
        self.weight_delta = _float_or_none(weight_delta)
        self.bits = int(bits)
        self.output_range = _range_or_none(output_range)

    def _add_bias_correction(self, width):
        self.bias_correction = self.add_weight(shape=(width,), initializer="zeros", trainable=False,
                                               name="bias_correction")

    def get_config(self):
        return {**super().get_config(), "input_delta": self.input_delta, "weight_delta": self.weight_delta,
                "bits": self.bits, "output_range": self.output_range}

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store["bias_correction"] = self.bias_correction

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.built:
            self.bias_correction.assign(store["bias_correction"])


@keras.saving.register_keras_serializable(package="keras_hire")
class FakeQuantDense(_FakeQuantProduct, keras.layers.Dense):
    """A `Dense` whose input and kernel are fake-quantized with fixed intervals, plus a bias correction.

    Args:
        input_delta: float or None, the input interval (None: input stays float).
        weight_delta: float or None, the kernel interval (None: kernel stays float).
        bits: int in [2, 16], the bit width of both.
        output_range: `[low, high]` or None, an 8-bit requantization of the output (the int8 export).
        **kwargs: the `keras.layers.Dense` arguments.

    Example:
    ```python
    layer = FakeQuantDense(64, input_delta=0.02, weight_delta=0.001, bits=8)
    y = layer(keras.random.normal((2, 17, 48)))
    ```
    """

    def __init__(self, units, input_delta=None, weight_delta=None, bits=8, output_range=None, **kwargs):
        super().__init__(units, **kwargs)
        self._keep_intervals(input_delta, weight_delta, bits, output_range)

    def build(self, input_shape):
        super().build(input_shape)
        self._add_bias_correction(self.units)

    def call(self, inputs, training=None):
        x = fake_quant(inputs, self.input_delta, self.bits)
        y = ops.matmul(x, fake_quant(self.kernel, self.weight_delta, self.bits))
        if self.bias is not None:
            y = ops.add(y, self.bias)
        y = ops.add(y, self.bias_correction)
        y = self.activation(y) if self.activation is not None else y
        return fake_quant_range(y, self.output_range)


@keras.saving.register_keras_serializable(package="keras_hire")
class FakeQuantConv2D(_FakeQuantProduct, keras.layers.Conv2D):
    """A `Conv2D` (the patch embedding) with fake-quantized input and kernel, plus a bias correction.

    Args:
        input_delta: float or None, the input interval.
        weight_delta: float or None, the kernel interval.
        bits: int in [2, 16].
        output_range: `[low, high]` or None, an 8-bit requantization of the output (the int8 export).
        **kwargs: the `keras.layers.Conv2D` arguments.

    Example:
    ```python
    layer = FakeQuantConv2D(48, 8, strides=8, input_delta=0.03, weight_delta=0.002, bits=8)
    ```
    """

    def __init__(self, filters, kernel_size, input_delta=None, weight_delta=None, bits=8, output_range=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._keep_intervals(input_delta, weight_delta, bits, output_range)

    def build(self, input_shape):
        super().build(input_shape)
        self._add_bias_correction(self.filters)

    def call(self, inputs):
        x = fake_quant(inputs, self.input_delta, self.bits)
        y = self.convolution_op(x, fake_quant(self.kernel, self.weight_delta, self.bits))
        if self.use_bias:
            y = ops.add(y, self.bias)
        y = ops.add(y, self.bias_correction)  # channels_last: the patch embedding's layout
        y = self.activation(y) if self.activation is not None else y
        return fake_quant_range(y, self.output_range)


# The quantized operations inside one attention module, in call order; "matmul_qk" and "matmul_av" are the
# two activation products (their "input" is q / the attention probabilities, their "weight" k / v).
ATTENTION_OPS = ("q", "k", "v", "matmul_qk", "matmul_av", "proj")
_LINEAR_OPS = ("q", "k", "v", "proj")


@keras.saving.register_keras_serializable(package="keras_hire")
class FakeQuantAttention(MultiHeadSelfAttention):
    """`MultiHeadSelfAttention` with fake-quantized q, k, v, proj (inputs and kernels) and product inputs.

    Softmax and CaiT's talking-heads mixes (`proj_l` before the softmax, `proj_w` after) stay float; the
    second product's input is the mixed attention. `intervals` maps each of `ATTENTION_OPS` to
    `[input_delta, weight_delta]`; for "matmul_qk" these are the intervals of the scaled q and of k,
    for "matmul_av" of the attention probabilities and of v. The float sublayers `q`, `k`, `v`, `proj`
    hold the weights, so a float layer's weights load unchanged; `{op}_correction` hold the bias
    corrections of the linear ops.

    Args:
        intervals: dict op -> `[input_delta, weight_delta]` (floats or None for float).
        bits: int in [2, 16].
        output_range: `[low, high]` or None, an 8-bit requantization of the projection's output (the int8 export).
        **kwargs: the `MultiHeadSelfAttention` arguments.

    Example:
    ```python
    layer = FakeQuantAttention(dim=48, num_heads=3, intervals={"q": [0.02, 0.001]}, bits=8)
    y, attention = layer(keras.random.normal((2, 17, 48)))
    ```
    """

    handles_num_queries = True  # a slimmed ViT's rectangular attention: q from the first num_queries tokens

    def __init__(self, dim, num_heads, intervals=None, bits=8, output_range=None, **kwargs):
        super().__init__(dim, num_heads, **kwargs)
        unknown = sorted(set(intervals or {}) - set(ATTENTION_OPS))
        if unknown:
            raise ValueError(f"FakeQuantAttention intervals has unknown ops {unknown}; known: {ATTENTION_OPS}.")
        self.intervals = {op: [_float_or_none(d) for d in (intervals or {}).get(op, (None, None))]
                          for op in ATTENTION_OPS}
        self.bits = int(bits)
        self.output_range = _range_or_none(output_range)

    def build(self, input_shape):
        super().build(input_shape)
        for op in _LINEAR_OPS:
            setattr(self, f"{op}_correction", self.add_weight(
                shape=(self.dim,), initializer="zeros", trainable=False, name=f"{op}_correction"))

    def _linear(self, op, x, scale=1.0):
        """`op`'s fake-quantized product times `scale`, folded into the kernel and biases (an equal grid:
        fq(W, d) * s == fq(W * s, d * s)), so the int8 file has no separate multiply after q."""
        dense = getattr(self, op)
        input_delta, weight_delta = self.intervals[op]
        weight_delta = None if weight_delta is None else weight_delta * scale
        y = ops.matmul(fake_quant(x, input_delta, self.bits), fake_quant(dense.kernel * scale, weight_delta, self.bits))
        if dense.bias is not None:
            y = ops.add(y, dense.bias * scale)
        return ops.add(y, getattr(self, f"{op}_correction") * scale)

    def call(self, x, training=None):
        # The products' operands are quantized where they are made (q, k, v outputs, softmax output): the
        # same numbers as quantizing them at the products, and the int8 file then gets int8 q/k/v kernels.
        q_delta, k_delta = self.intervals["matmul_qk"]
        a_delta, v_delta = self.intervals["matmul_av"]
        queries = x if self.num_queries is None else x[:, :self.num_queries]
        q = split_heads(fake_quant(self._linear("q", queries, self.scale), q_delta, self.bits), self.num_heads)
        k = split_heads(fake_quant(self._linear("k", x), k_delta, self.bits), self.num_heads)
        v = split_heads(fake_quant(self._linear("v", x), v_delta, self.bits), self.num_heads)
        attention = self._probabilities(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), training)
        y = merge_heads(ops.matmul(fake_quant(attention, a_delta, self.bits), v))
        y = fake_quant_range(self._linear("proj", y), self.output_range)
        return self.proj_drop(y, training=training), attention

    def get_config(self):
        return {**super().get_config(), "intervals": self.intervals, "bits": self.bits,
                "output_range": self.output_range}
