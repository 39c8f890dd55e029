"""Several Dense layers on one input as one wide matrix product: fewer, better-shaped GEMMs on phones."""

from keras import ops


def fused_projection(x, denses, scales=None):
    """`[dense(x) * scale for dense in denses]` as one matrix product and an even split.

    The Dense layers keep their own variables (and official names); their kernels and biases are
    concatenated inside the graph, which a TFLite conversion folds into one constant, so the file
    runs one wide GEMM and a SPLIT (which XNNPACK takes; an uneven SPLIT_V it does not) instead
    of several narrow GEMMs. Scales are folded into the weights.

    Args:
        x: the input of every Dense.
        denses: built Dense layers with the same `units` and all or none with a bias.
        scales: optional per-layer output scales.
    """
    scales = scales or [1.0] * len(denses)
    if len({dense.units for dense in denses}) != 1 or len({dense.use_bias for dense in denses}) != 1:
        raise ValueError("fused_projection needs Dense layers of equal units, all or none with biases.")

    def scaled(variables):
        return [v * scale if scale != 1.0 else v for v, scale in zip(variables, scales)]

    def joined(variables):
        return ops.concatenate(variables, axis=-1) if len(variables) > 1 else variables[0]

    y = ops.matmul(x, joined(scaled([dense.kernel for dense in denses])))
    if denses[0].use_bias:
        y = y + joined(scaled([dense.bias for dense in denses]))
    return ops.split(y, len(denses), axis=-1) if len(denses) > 1 else [y]
