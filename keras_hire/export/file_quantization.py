"""What quantization a TFLite flatbuffer really holds, read from its tensors, and the check that a
file labelled with a quantization holds it (a converter can silently fall back to float)."""

from keras_hire.export.tflite_schema import read_model


def file_quantization(flatbuffer):
    """`"int8"` (int8 input), `"dynamic"` (float input, int8 weights), `"float16"` (float16 weights)
    or `"float32"`, from the main subgraph's input and constant tensors."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = read_model(flatbuffer)
    graph = model.subgraphs[0]
    input_type = graph.tensors[graph.inputs[0]].type
    if input_type in (schema.TensorType.INT8, schema.TensorType.UINT8):
        return "int8"
    constant_types = {tensor.type for tensor in graph.tensors
                      if tensor.buffer and model.buffers[tensor.buffer].data is not None
                      and len(model.buffers[tensor.buffer].data)}
    if schema.TensorType.INT8 in constant_types:
        return "dynamic"
    if schema.TensorType.FLOAT16 in constant_types:
        return "float16"
    return "float32"


def check_file_quantization(flatbuffer, expected, name="the converted file"):
    found = file_quantization(flatbuffer)
    if expected == "dynamic" and found == "float32" and not _large_float_weights(flatbuffer):
        found = "dynamic"  # the converter leaves weights under 1,024 values float: nothing to quantize
    if found != expected:
        raise ValueError(
            f"{name} was asked to be {expected} but holds {found} tensors: the converter fell back. "
            "Fix: check the representative data and that every op has a quantized kernel."
        )
    return found


# Weight operands the dynamic-range converter quantizes when they hold 1,024 values or more.
_WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "BATCH_MATMUL")
_DYNAMIC_MIN_ELEMENTS = 1024


def _large_float_weights(flatbuffer):
    """Whether a float32 weight operand is large enough that dynamic-range quantization would take it."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    codes = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    model = read_model(flatbuffer)
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if codes.get(max(code.builtinCode, code.deprecatedBuiltinCode)) not in _WEIGHT_OPS or len(op.inputs) < 2:
                continue
            weights = graph.tensors[op.inputs[1]]
            buffer = model.buffers[weights.buffer] if weights.buffer else None
            if (weights.type == schema.TensorType.FLOAT32 and buffer is not None and buffer.data is not None
                    and np.prod(weights.shape) >= _DYNAMIC_MIN_ELEMENTS):
                return True
    return False
