"""Keras model -> batch-1 TFLite flatbuffer with builtin ops only."""

import numpy as np
import tensorflow as tf

from keras_hire.export.file_quantization import check_file_quantization
from keras_hire.export.float_depthwise import float_depthwise_weights
from keras_hire.export.tflite_schema import read_model

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
# One image calibrates a file that tests compare with Keras; real files want hundreds.
MIN_CALIBRATION_IMAGES = 1


class UnsupportedOpError(ValueError):
    """The model needs an op outside the TFLite builtin set (a Flex/SELECT_TF op)."""


def to_tflite(model, quantization="float32", representative_data=None):
    """Converts a Keras model to TFLite flatbuffer bytes at a fixed batch of 1.

    A fixed batch keeps every shape static, which lets shifts lower to SLICE/CONCATENATION
    and keeps the file on the builtin op set (no Flex delegate, which phones do not ship).

    Args:
        model: a Keras model with one image input.
        quantization: `"float32"`, `"float16"` (float16 weights), `"dynamic"` (dynamic-range:
            int8 weights, activations quantized on the fly by the int8 kernels; depthwise
            filters stay float, see `float_depthwise_weights`) or `"int8"` (full integer, int8
            input and output).
        representative_data: for `"int8"`, an iterable of float32 image batches (any batch size)
            that covers the input distribution, e.g. 100-500 training images.

    Returns:
        The flatbuffer as `bytes`.

    Raises:
        UnsupportedOpError: naming the ops that would need the Flex delegate.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}.")
    if quantization == "int8":
        representative_data = calibration_batches(representative_data, tuple(model.inputs[0].shape[1:]))

    spec = tf.TensorSpec((1,) + tuple(model.inputs[0].shape[1:]), tf.float32)
    function = tf.function(lambda images: model(images, training=False), input_signature=[spec])
    concrete = function.get_concrete_function()
    # Freezing first matters: passing the Keras model as trackable object leaves its
    # variables as resource reads and yields NaN outputs (see STACK.md).
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(concrete)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(representative_data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter reports unsupported ops in its message
        message = str(error)
        if "Select" in message or "Flex" in message or "neither a custom op nor a flex op" in message:
            raise UnsupportedOpError(
                f"{type(model).__name__} needs TensorFlow ops outside the TFLite builtins: {_flex_ops(message)}. "
                "Rewrite them with builtin-friendly ops (static shapes, <=4-D tensors)."
            ) from error
        raise
    ops = tflite_op_names(flatbuffer)
    bad = sorted({op for op in ops if op.startswith("Flex") or op in ("VAR_HANDLE", "READ_VARIABLE", "CUSTOM")})
    if bad:
        raise UnsupportedOpError(f"The converted model contains non-builtin ops: {', '.join(bad)}.")
    if quantization == "dynamic":
        flatbuffer = float_depthwise_weights(flatbuffer)
    check_file_quantization(flatbuffer, quantization, f"The TFLite file of {model.name}")
    return flatbuffer


def calibration_batches(data, image_shape):
    """`data` as a list of float32 batches of `image_shape`, refusing what cannot calibrate int8 ranges."""
    if data is None:
        raise ValueError("quantization='int8' needs representative_data: an iterable of float32 image batches "
                         "(e.g. [images] with 100-500 training images).")
    batches = []
    for index, batch in enumerate(data):
        batch = np.asarray(batch, np.float32)
        if batch.ndim == len(image_shape):
            batch = batch[None]
        if tuple(batch.shape[1:]) != tuple(image_shape):
            raise ValueError(f"representative_data batch {index} has shape {batch.shape}; the model takes images "
                             f"of shape {image_shape}. Fix: preprocess calibration images as the model's inputs.")
        if not np.all(np.isfinite(batch)):
            raise ValueError(f"representative_data batch {index} holds NaN or infinite values. "
                             "Fix: calibrate on finite, preprocessed images.")
        batches.append(batch)
    count = sum(len(batch) for batch in batches)
    if count < MIN_CALIBRATION_IMAGES:
        raise ValueError(f"representative_data holds {count} image(s); int8 ranges need at least "
                         f"{MIN_CALIBRATION_IMAGES} (100-500 recommended). Fix: pass more training images.")
    return batches


def tflite_op_names(flatbuffer):
    """The operator names of every node of the main subgraph, in execution order."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = read_model(flatbuffer)
    names = {}
    for index, code in enumerate(model.operatorCodes):
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            name = code.customCode.decode() if code.customCode else "CUSTOM"
        else:
            name = _BUILTIN_NAMES.get(builtin, str(builtin))
        names[index] = name
    return [names[op.opcodeIndex] for op in model.subgraphs[0].operators]


def _builtin_names():
    from tensorflow.lite.python import schema_py_generated as schema

    return {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}


_BUILTIN_NAMES = _builtin_names()


def _representative(data):
    def generator():
        for batch in data:
            batch = np.asarray(batch, np.float32)
            for image in batch:
                yield [image[None]]

    return generator


def _flex_ops(message):
    import re

    found = sorted(set(re.findall(r"tf\.(\w+)", message)))
    return ", ".join(found) if found else message.splitlines()[0]
