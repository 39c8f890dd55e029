"""The two fake-quantization formulas of the fake-quant layers, in keras ops or as TensorFlow's fake-quant ops.

Simulation uses keras ops on any backend. The int8 export traces the same layers inside
`tflite_fake_quant_ops()`, where both formulas emit `tf.quantization.fake_quant_with_min_max_vars` with
the equivalent range: the TFLite converter reads those ranges as the tensors' int8 scales and zero points,
so the file carries the searched intervals with no representative dataset (STACK.md §4).
"""

import contextlib

import numpy as np
from keras import ops

_TFLITE_OPS = [False]  # set only while `tflite_fake_quant_ops()` traces a model for the converter


@contextlib.contextmanager
def tflite_fake_quant_ops():
    """Within this context the fake-quant layers emit TensorFlow fake-quant ops (for tracing the int8 export)."""
    _TFLITE_OPS[0] = True
    try:
        yield
    finally:
        _TFLITE_OPS[0] = False


def tracing_for_tflite():
    """True while `tflite_fake_quant_ops()` traces a model for the converter."""
    return _TFLITE_OPS[0]


def fake_quant(x, delta, bits):
    """`clip(round(x / delta), -2^(b-1), 2^(b-1) - 1) * delta` (Eq. 8); `delta=None` leaves `x` float.

    `ops.round` rounds half to even, like `np.round` in `uniform_quantize`; TensorFlow's op (export)
    rounds half up, which differs only on exact ties.
    """
    if delta is None:
        return x
    if _TFLITE_OPS[0]:
        low = 2.0 ** (bits - 1)
        return _tf_fake_quant(x, -low * float(delta), (low - 1) * float(delta), bits)
    delta = ops.cast(delta, x.dtype)
    return ops.clip(ops.round(x / delta), -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1) * delta


def fake_quant_range(x, value_range, bits=8):
    """Asymmetric fake quantization to `2^bits` levels over `value_range = (low, high)`, as TensorFlow does it.

    The scale is `(high - low) / (2^bits - 1)` and the range is shifted so that 0 is exactly
    representable (TensorFlow's `FakeQuantWithMinMaxVars` nudging, which the converter turns into the
    int8 scale and zero point), so the simulation equals the int8 kernels' requantization.
    `value_range=None` leaves `x` float.
    """
    if value_range is None:
        return x
    low, high = float(value_range[0]), float(value_range[1])
    if high - low <= 0.0:
        raise ValueError(f"fake_quant_range: the range must have high > low; received {value_range}.")
    if _TFLITE_OPS[0]:
        return _tf_fake_quant(x, low, high, bits)
    levels = np.float32(2.0 ** bits - 1)
    scale = (np.float32(high) - np.float32(low)) / levels  # float32 like the kernel, so ties fall alike
    zero_point = float(np.clip(np.round(-np.float32(low) / scale), 0.0, levels))
    scale = float(scale)
    nudged_low, nudged_high = -zero_point * scale, (float(levels) - zero_point) * scale
    clipped = ops.clip(x, nudged_low, nudged_high)
    return ops.floor((clipped - nudged_low) / scale + 0.5) * scale + nudged_low


def _tf_fake_quant(x, low, high, bits):
    import tensorflow as tf

    return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=int(bits))
