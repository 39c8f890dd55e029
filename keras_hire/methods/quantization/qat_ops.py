"""The trainable fake quantization of native QAT: ranges held in variables, gradients passed straight through.

Both follow TensorFlow's `FakeQuantWithMinMaxVars` arithmetic (the range nudged so that 0 is exact), so
what QAT trains on is what the int8 file computes. Gradients: the straight-through estimator, 1 inside
the (nudged) range and 0 outside, as TensorFlow's own fake-quant gradient. Inside
`tflite_fake_quant_ops()` both emit TensorFlow's fake-quant ops, whose ranges the TFLite converter reads
as the int8 scales and zero points.
"""

from keras import ops

from keras_hire.methods.quantization.fake_quant_ops import tracing_for_tflite


def fake_quant_tensor_range(x, low, high, bits=8, narrow_range=False):
    """`x` fake-quantized to `2^bits` levels (`2^bits - 1` with `narrow_range`) over `[low, high]` (tensors).

    `low` and `high` broadcast against `x` (a per-channel range has the channel axis last). The range
    should hold 0 (activation observers and weight ranges here always do).
    """
    if tracing_for_tflite():
        return _tf_fake_quant(x, low, high, bits, narrow_range)
    quant_min = 1.0 if narrow_range else 0.0
    quant_max = 2.0 ** bits - 1.0
    low, high = ops.cast(low, x.dtype), ops.cast(high, x.dtype)
    scale = ops.maximum((high - low) / (quant_max - quant_min), 1e-12)
    zero_point = ops.clip(ops.round(quant_min - low / scale), quant_min, quant_max)
    nudged_low = (quant_min - zero_point) * scale
    nudged_high = (quant_max - zero_point) * scale
    clipped = ops.minimum(ops.maximum(x, nudged_low), nudged_high)
    quantized = ops.floor((clipped - nudged_low) / scale + 0.5) * scale + nudged_low
    return clipped + ops.stop_gradient(quantized - clipped)  # straight through inside the range


def fake_quant_weights(kernel, per_channel, bits=8):
    """TFMOT's default weight scheme: symmetric, narrow range, the range the current largest magnitude.

    TFMOT's last-value quantizer, so the range follows the weights as they train: one range per output
    channel (the last axis) for convolutions, one per tensor for Dense kernels (TFMOT's default; the
    converter's FULLY_CONNECTED takes the kernel transposed, where a per-column range has no axis). A
    depthwise kernel `(h, w, in, multiplier)` has `in * multiplier` output channels: pass it reshaped to
    `(h, w, in * multiplier)`.
    """
    axes = tuple(range(len(kernel.shape) - 1)) if per_channel else None
    magnitude = ops.maximum(ops.max(ops.abs(kernel), axis=axes), 1e-8)
    return fake_quant_tensor_range(kernel, -magnitude, magnitude, bits, narrow_range=True)


def _tf_fake_quant(x, low, high, bits, narrow_range):
    import tensorflow as tf

    low, high = tf.cast(low, tf.float32), tf.cast(high, tf.float32)
    if len(low.shape) == 0:
        return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=int(bits),
                                                            narrow_range=narrow_range)
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(x, low, high, num_bits=int(bits),
                                                                    narrow_range=narrow_range)
