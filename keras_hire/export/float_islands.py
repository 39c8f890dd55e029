"""Int8 files whose ops XNNPACK has no int8 kernel for run those ops in float between (de)quantize ops."""

import numpy as np

from keras_hire.export.tflite_schema import read_model


def float_islands(flatbuffer, op_names):
    """Returns `flatbuffer` with every int8 op named in `op_names` computed in float32.

    The converter quantizes an op whenever its neighbours are quantized (GELU between two int8 fully
    connected layers becomes an int8 lookup table), but XNNPACK has no int8 GELU, LayerNorm or
    softmax, so such an op splits the delegated graph and runs on LiteRT's reference kernel. Here
    each one gets float32 copies of its int8 activation tensors, a DEQUANTIZE before and a QUANTIZE
    after (both taken by XNNPACK), with the int8 tensors' own scales: the numbers are those of
    dequantizing, the float op and requantizing. Where a float->int8 QUANTIZE feeds only a requantizing
    QUANTIZE (int8 softmax has a fixed 1/256 output scale, which the converter then requantizes to
    the next product's input scale), the two become one QUANTIZE to the final scale: the float
    result is rounded once, as in the fake-quant model, not twice.

    Args:
        flatbuffer: `.tflite` bytes.
        op_names: builtin op names, e.g. `("GELU",)`.

    Returns:
        The new flatbuffer bytes (the input unchanged when no such int8 op exists).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = read_model(flatbuffer)
    wanted = {getattr(schema.BuiltinOperator, name) for name in op_names}
    codes = {index for index, code in enumerate(model.operatorCodes)
             if max(code.builtinCode, code.deprecatedBuiltinCode) in wanted}
    changed = False
    for subgraph in model.subgraphs:
        operators = []
        for op in subgraph.operators:
            int8 = [i for i in list(op.inputs) + list(op.outputs)
                    if i >= 0 and subgraph.tensors[i].type == schema.TensorType.INT8 and
                    not _has_data(model, subgraph.tensors[i])]
            if op.opcodeIndex not in codes or not int8:
                operators.append(op)
                continue
            dequantize, quantize = (_opcode(model, schema, name) for name in ("DEQUANTIZE", "QUANTIZE"))
            inputs, outputs = list(op.inputs), list(op.outputs)
            for position, index in enumerate(inputs):
                if index in int8:
                    inputs[position] = _float_twin(subgraph, schema, index)
                    operators.append(_operator(schema, dequantize, [index], [inputs[position]]))
            op.inputs = np.asarray(inputs, np.int32)
            after = []
            for position, index in enumerate(outputs):
                if index in int8:
                    outputs[position] = _float_twin(subgraph, schema, index)
                    after.append(_operator(schema, quantize, [outputs[position]], [index]))
            op.outputs = np.asarray(outputs, np.int32)
            operators += [op] + after
            changed = True
        subgraph.operators = _fuse_requantizations(subgraph, schema, operators, _opcode(model, schema, "QUANTIZE"))
    if not changed:
        return flatbuffer
    import flatbuffers

    builder = flatbuffers.Builder(len(flatbuffer) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _fuse_requantizations(subgraph, schema, operators, quantize):
    """`operators` with each float->int8 QUANTIZE whose only consumer is an int8->int8 QUANTIZE fused into one."""
    consumers = {}
    for op in operators:
        for index in op.inputs:
            consumers.setdefault(int(index), []).append(op)
    outputs = {int(i) for i in subgraph.outputs}
    dropped = set()
    for op in operators:
        if op.opcodeIndex != quantize or subgraph.tensors[op.inputs[0]].type != schema.TensorType.FLOAT32:
            continue
        middle = int(op.outputs[0])
        users = consumers.get(middle, [])
        if middle in outputs or len(users) != 1 or users[0].opcodeIndex != quantize:
            continue
        op.outputs = np.asarray(users[0].outputs, np.int32)  # the middle int8 tensor is left unused
        dropped.add(id(users[0]))
    return [op for op in operators if id(op) not in dropped]


def _has_data(model, tensor):
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    return data is not None and len(data) > 0


def _float_twin(subgraph, schema, index):
    """Appends a float32 tensor shaped like tensor `index`; returns its index."""
    original = subgraph.tensors[index]
    twin = schema.TensorT()
    twin.shape = original.shape
    twin.shapeSignature = original.shapeSignature
    twin.type = schema.TensorType.FLOAT32
    twin.buffer = 0  # buffer 0 is the empty sentinel: an activation
    twin.name = (original.name or b"") + b"/float"
    subgraph.tensors.append(twin)
    return len(subgraph.tensors) - 1


def _opcode(model, schema, name):
    """The operator-code index of builtin `name`, added to the model when missing."""
    builtin = getattr(schema.BuiltinOperator, name)
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # the old int8 field: 127 means "see builtinCode"
    code.version = 2  # int8 (de)quantization
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _operator(schema, opcode, inputs, outputs):
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = np.asarray(inputs, np.int32)
    op.outputs = np.asarray(outputs, np.int32)
    return op
