"""LiteRT interpreters and batch-1 inference with (de)quantization of int8 inputs and outputs."""

import numpy as np


def make_interpreter(model, num_threads=1, xnnpack=True, per_op_delegation=False):
    """An allocated `ai_edge_litert` interpreter for flatbuffer bytes or a `.tflite` path.

    Args:
        model: flatbuffer `bytes` or a path.
        num_threads: CPU threads.
        xnnpack: use the default XNNPACK delegate (`False`: LiteRT's builtin kernels only).
        per_op_delegation: one DELEGATE node per delegated op (for coverage; slower).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = tflite_source(model)
    interpreter = Interpreter(
        num_threads=num_threads,
        experimental_op_resolver_type=(OpResolverType.AUTO if xnnpack
                                       else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
        experimental_disable_delegate_node_fusion=per_op_delegation,
        **kwargs,
    )
    interpreter.allocate_tensors()
    return interpreter


def tflite_source(model):
    """Interpreter arguments for bytes or a path, after checks that name the file and what is wrong
    (LiteRT's own errors name neither)."""
    import os

    from keras_hire.export.tflite_schema import check_tflite_identifier
    from keras_hire.utils.keras_files import check_input_file

    if isinstance(model, (bytes, bytearray, memoryview)):
        check_tflite_identifier(model, "the model passed as bytes")
        return dict(model_content=bytes(model))
    path = check_input_file(model, "TFLite file")
    with open(path, "rb") as handle:
        check_tflite_identifier(handle.read(8), f"TFLite file {path!r}", os.path.getsize(path))
    return dict(model_path=path)


def quantize_input(images, detail):
    """Float images -> the input tensor's dtype, using its quantization parameters if integer."""
    images = np.asarray(images, np.float32)
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(images / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    return images.astype(detail["dtype"])


def dequantize_output(values, detail):
    if detail["dtype"] in (np.int8, np.uint8):
        scale, zero_point = detail["quantization"]
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)


def run_tflite(model, images, num_threads=1):
    """Float outputs of a batch-1 TFLite model on each of `images` (float, preprocessed), stacked."""
    interpreter = make_interpreter(model, num_threads=num_threads)
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    outputs = []
    for image in np.asarray(images, np.float32):
        interpreter.set_tensor(input_detail["index"], quantize_input(image[None], input_detail))
        interpreter.invoke()
        outputs.append(dequantize_output(interpreter.get_tensor(output_detail["index"])[0], output_detail))
    return np.stack(outputs)
