"""Dynamic-range files with float depthwise weights: XNNPACK has no hybrid depthwise kernel."""

import numpy as np

from keras_hire.export.tflite_schema import read_model


def float_depthwise_weights(flatbuffer):
    """Returns `flatbuffer` with every hybrid DEPTHWISE_CONV_2D's int8 filter replaced by float32.

    Dynamic-range quantization gives int8 weights to every constant with 1024 elements or more,
    depthwise filters of wide layers included. XNNPACK runs hybrid fully-connected and conv
    layers (quantizing activations on the fly) but not hybrid depthwise convs, which then fall
    back to the slow reference kernel and split the delegated graph. A depthwise filter is
    small (k * k * channels), so keeping it float (dequantized from its int8 values, so the
    numbers are those of the quantized model) costs almost no file size.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = read_model(flatbuffer)
    depthwise = {index for index, code in enumerate(model.operatorCodes)
                 if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEPTHWISE_CONV_2D}
    changed = False
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if op.opcodeIndex not in depthwise:
                continue
            activation, weights = subgraph.tensors[op.inputs[0]], subgraph.tensors[op.inputs[1]]
            if activation.type != schema.TensorType.FLOAT32 or weights.type != schema.TensorType.INT8:
                continue
            buffer = model.buffers[weights.buffer]
            values = np.frombuffer(bytes(buffer.data), np.int8).reshape(weights.shape).astype(np.float32)
            quant = weights.quantization
            axis = quant.quantizedDimension if len(quant.scale) > 1 else None
            scale = np.asarray(quant.scale, np.float32)
            zero_point = np.asarray(quant.zeroPoint, np.float32)
            if axis is not None:
                shape = [1] * values.ndim
                shape[axis] = -1
                scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
            buffer.data = np.frombuffer(((values - zero_point) * scale).astype("<f4").tobytes(), np.uint8)
            weights.type = schema.TensorType.FLOAT32
            weights.quantization = None
            changed = True
    if not changed:
        return flatbuffer
    import flatbuffers

    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
