"""Multiply-accumulates of a model's convolutions and matrix products, as the papers count FLOPs."""

import numpy as np


def count_macs(model, batch_size=1):
    """MACs of one forward pass at the model's input size, per batch of `batch_size`.

    Traces the inference graph (TensorFlow backend) and sums the MACs of every convolution
    (regular, depthwise, transposed) and every (batched) matrix product, attention included.
    Normalisations, activations and element-wise ops are not counted, as in the papers. Products
    of weights alone (a kernel folded with a norm's statistics, which a TFLite conversion turns
    into a constant) do not depend on the image and are not counted either.
    """
    import tensorflow as tf

    spec = tf.TensorSpec((batch_size,) + tuple(model.inputs[0].shape[1:]), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    return int(sum(_op_macs(op) for op in _all_ops(graph, _ops_fed_by(graph.inputs[0]))))


def _ops_fed_by(tensor):
    """Every op downstream of `tensor` in its graph."""
    reached, frontier = set(), [tensor]
    while frontier:
        for op in frontier.pop().consumers():
            if op not in reached:
                reached.add(op)
                frontier.extend(op.outputs)
    return reached


def count_params(model, trainable_only=True):
    """Number of (trainable) parameters, as `sum(p.numel() for p in model.parameters())` counts them."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(np.prod(w.shape) for w in weights))


def _all_ops(graph, only=None):
    for op in graph.get_operations():
        if only is not None and op not in only:
            continue
        yield op
        # Ops inside functions (while/if bodies, nested tf.functions).
        for attr in ("then_branch", "else_branch", "body", "f"):
            try:
                name = op.get_attr(attr).name
            except (ValueError, AttributeError, TypeError):
                continue
            function = graph._get_function(name)  # pylint: disable=protected-access
            if function is not None:
                yield from _all_ops(function.graph)


def _op_macs(op):
    kind = op.type
    if kind in ("Conv2D", "DepthwiseConv2dNative"):
        out = op.outputs[0].shape.as_list()
        kernel = op.inputs[1].shape.as_list()  # (kh, kw, in, out) or (kh, kw, in, multiplier)
        return np.prod(out) * kernel[0] * kernel[1] * (kernel[2] if kind == "Conv2D" else 1)
    if kind == "Conv2DBackpropInput":  # transposed convolution: every input pixel meets the whole kernel
        kernel = op.inputs[1].shape.as_list()  # (kh, kw, out, in)
        inp = op.inputs[2].shape.as_list()
        return np.prod(inp[:-1]) * np.prod(kernel)
    if kind in ("MatMul", "BatchMatMulV2", "BatchMatMulV3", "BatchMatMul"):
        a = op.inputs[0].shape.as_list()
        transpose_a = _attr(op, "transpose_a") or _attr(op, "adj_x")
        out = op.outputs[0].shape.as_list()
        inner = a[-2] if transpose_a else a[-1]
        return np.prod(out) * inner
    if kind == "Einsum":
        raise NotImplementedError("count_macs does not count Einsum; write the product as a matmul.")
    return 0


def _attr(op, name):
    try:
        return bool(op.get_attr(name))
    except ValueError:
        return False
