"""The three formulas of PTQ for ViT (arXiv 2106.14156): quantizer (Eq. 8), Pearson (Eq. 10), ranking loss (Eq. 13).

They take numpy arrays or backend tensors and compute in numpy, so their numbers are the textbook ones:
`uniform_quantize` rounds with `np.round` (half to even, the same rule as `tf.round` and `keras.ops.round`,
which the fake-quantized model uses), not half away from zero.
"""

import numbers

import numpy as np

# Rows of the last axis handled at once by `ranking_loss`: bounds the (rows, w, w) pair tensor to ~16M floats.
_PAIR_BUDGET = 1 << 24


def to_numpy(x):
    """A numpy array from a numpy array, Python number/sequence or backend tensor."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):  # eager TF tensors, keras Variables
        return np.asarray(x.numpy())
    try:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(x))
    except (ImportError, TypeError, ValueError):
        return np.asarray(x)


def check_bits(bits):
    """Returns `bits` as an int in [2, 16] or raises a `ValueError` naming the value and the range."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) and not (
        isinstance(bits, numbers.Real) and float(bits).is_integer()
    ):
        raise ValueError(f"bits must be an integer from 2 to 16; received bits={bits!r}.")
    if not 2 <= int(bits) <= 16:
        raise ValueError(
            f"bits must be from 2 to 16 (fake quantization simulates 2-16 bits; TFLite runs 8); received bits={bits}."
        )
    return int(bits)


def quantization_range(bits):
    """The integer range `(-2^(bits-1), 2^(bits-1) - 1)` of the signed symmetric quantizer."""
    bits = check_bits(bits)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _float64_pair(x, y, function):
    """`x` and `y` as float64 numpy arrays of one shape, or a `ValueError` naming `function`."""
    x, y = to_numpy(x).astype(np.float64), to_numpy(y).astype(np.float64)
    if x.shape != y.shape:
        raise ValueError(f"{function} needs two tensors of one shape; received {x.shape} and {y.shape}.")
    return x, y


def uniform_quantize(x, delta, bits):
    """Symmetric uniform fake quantization (Eq. 8): `clip(round(x / delta), -2^(b-1), 2^(b-1) - 1) * delta`.

    Rounding is `np.round`: half to even (2.5 -> 2, -0.5 -> -0), as `tf.round`. A Python-number `delta`
    keeps the dtype of `x` (float32 stays float32, as `np.round(x / delta)` would); integer `x` becomes
    float64.

    Args:
        x: array-like or tensor, the values.
        delta: positive float, or an array broadcastable against `x` (e.g. one interval per output
            channel on the last axis), the quantization interval.
        bits: int in [2, 16], the bit width.

    Returns:
        A float numpy array of the broadcast shape of `x` and `delta`: the dequantized values.

    Example:
    ```python
    uniform_quantize([0.26, -1.0, 0.05], delta=0.1, bits=4)  # array([0.3, -0.8, 0.0])
    ```
    """
    low, high = quantization_range(bits)
    x = to_numpy(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    if not isinstance(delta, numbers.Real):
        delta = to_numpy(delta)
        if not np.issubdtype(delta.dtype, np.floating):
            delta = delta.astype(np.float64)
    if not np.all(np.asarray(delta) > 0) or not np.all(np.isfinite(delta)):
        raise ValueError(f"uniform_quantize needs every delta > 0 and finite; received delta={delta!r}.")
    return np.clip(np.round(x / delta), low, high) * delta


def pearson_similarity(o, o_hat):
    """Pearson correlation of two tensors over all their elements (Eq. 10), as a Python float.

    Computed in float64: `sum((o - mean(o)) (o_hat - mean(o_hat))) / (||o - mean(o)|| ||o_hat - mean(o_hat)||)`.
    A constant tensor has no correlation to measure; the result is then 0.0 (the search treats a
    collapsed, constant quantized output as the worst candidate rather than failing).

    Args:
        o: array-like or tensor, the reference (float) output.
        o_hat: array-like or tensor of the same shape, the quantized output.

    Returns:
        A float in [-1, 1].

    Example:
    ```python
    pearson_similarity([1.0, 2.0, 3.0], [2.0, 4.0, 6.5])  # 0.9979...
    ```
    """
    o, o_hat = _float64_pair(o, o_hat, "pearson_similarity")
    if o.size == 0:
        raise ValueError("pearson_similarity received empty tensors.")
    a = o.ravel() - o.mean()
    b = o_hat.ravel() - o_hat.mean()
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    if denominator == 0.0:
        return 0.0
    return float(np.clip(np.dot(a, b) / denominator, -1.0, 1.0))


def ranking_loss(attn, attn_hat, theta=0.2):
    """The ranking-aware loss of attention maps (Eq. 13), summed, as a Python float.

    `sum over every leading index and every pair i < j of the last axis of
    max(0, theta - (attn_hat_i - attn_hat_j) * sign(attn_i - attn_j))`. Ties (`attn_i == attn_j`, sign 0)
    contribute `max(0, theta)`. Vectorised over pairs, in chunks of rows, in float64.

    Args:
        attn: array-like or tensor `(..., w)`, the float attention map (e.g. `(batch, heads, tokens, tokens)`).
        attn_hat: array-like or tensor of the same shape, the quantized attention map.
        theta: float, the margin of the hinge.

    Returns:
        A float >= 0.

    Example:
    ```python
    ranking_loss([[0.1, 0.5]], [[0.2, 0.3]], theta=0.2)  # max(0, 0.2 - (0.2 - 0.3) * -1) = 0.1
    ```
    """
    attn, attn_hat = _float64_pair(attn, attn_hat, "ranking_loss")
    if attn.ndim == 0:
        raise ValueError("ranking_loss needs tensors with at least one axis (the ranked one).")
    width = attn.shape[-1]
    if width < 2 or attn.size == 0:
        return 0.0
    rows = attn.reshape(-1, width)
    rows_hat = attn_hat.reshape(-1, width)
    upper = np.triu(np.ones((width, width), dtype=bool), k=1)  # pairs i < j
    chunk = max(1, _PAIR_BUDGET // (width * width))
    total = 0.0
    for start in range(0, rows.shape[0], chunk):
        a, a_hat = rows[start:start + chunk], rows_hat[start:start + chunk]
        sign = np.sign(a[:, :, None] - a[:, None, :])
        hinge = np.maximum(0.0, theta - (a_hat[:, :, None] - a_hat[:, None, :]) * sign)
        total += float(hinge[:, upper].sum())
    return total
