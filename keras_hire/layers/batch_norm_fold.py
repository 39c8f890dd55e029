"""Inference-mode BatchNormalization as a per-channel affine map, for folding into a neighbouring conv."""

from keras import ops


def batch_norm_affine(layer):
    """`(scale, shift)` with `layer(x, training=False) == x * scale + shift` for a built BatchNormalization.

    Computed from the variables inside the graph, so a TFLite conversion (which freezes them)
    folds any product of these with a kernel into one constant. Always float32 (under mixed
    precision Keras keeps the moving statistics float32 and casts gamma and beta): cast the
    folded result to the compute dtype.
    """
    scale = ops.rsqrt(_float32(layer.moving_variance) + layer.epsilon)
    if layer.scale:
        scale = scale * _float32(layer.gamma)
    shift = -_float32(layer.moving_mean) * scale
    if layer.center:
        shift = shift + _float32(layer.beta)
    return scale, shift


def _float32(variable):
    return ops.cast(variable, "float32")


def fold_into_pointwise(kernel, bias, before=None, after=None):
    """Kernel and bias of `after(conv1x1(before(x)))` where `before`/`after` are `(scale, shift)` pairs.

    Args:
        kernel: a 1x1 conv kernel `(1, 1, in, out)` (or a Dense kernel `(in, out)`).
        bias: `(out,)` or None.
        before: the affine map applied to the conv's input, per input channel.
        after: the affine map applied to the conv's output, per output channel.

    Returns float32 `(kernel, bias)`.
    """
    kernel = _float32(kernel)
    bias = ops.zeros((kernel.shape[-1],), "float32") if bias is None else _float32(bias)
    if before is not None:
        scale, shift = before
        matrix = ops.reshape(kernel, (kernel.shape[-2], kernel.shape[-1]))
        bias = bias + ops.matmul(shift[None, :], matrix)[0]
        kernel = kernel * ops.reshape(scale, (-1, 1))
    if after is not None:
        scale, shift = after
        kernel = kernel * scale
        bias = bias * scale + shift
    return kernel, bias
