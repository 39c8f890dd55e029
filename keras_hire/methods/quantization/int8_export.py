"""The 8-bit `quantize_vit` result as an int8 TFLite file whose quantized tensors carry the searched intervals.

The fake-quant model is traced with TensorFlow's fake-quant ops (`tflite_fake_quant_ops`) and converted
without a representative dataset: each int8 kernel's input and weight scale is a searched interval. Two
additions the paper's simulation does not have, because an int8 kernel needs an int8 output: the
outputs of the patch embedding, the attention projections and both MLP layers are requantized to 8
bits over a range searched on the calibration images (`output_ranges`; q, k and v outputs already have
the products' intervals). The patch embedding's requantization error has a large mean part (background
patches are alike), which the position embedding, added in float right after, absorbs
(`fold_embedding_requantization`). LayerNorm, GELU, softmax, the residual adds and the classifier stay float, as in
the paper; XNNPACK runs them in float and the products in int8.
"""

import dataclasses

import keras
import numpy as np

from keras_hire.layers.vit_embeddings import ClassToken, PositionEmbedding
from keras_hire.methods.quantization.fake_quant_layers import FakeQuantAttention, FakeQuantConv2D, FakeQuantDense
from keras_hire.methods.quantization.fake_quant_ops import fake_quant_range, tflite_fake_quant_ops
from keras_hire.methods.quantization.search import batched_similarity

_PRODUCT_LAYERS = (FakeQuantAttention, FakeQuantConv2D, FakeQuantDense)
TFLITE_BITS = 8


@dataclasses.dataclass
class Int8Export:
    """What `export_int8` returns.

    Attributes:
        flatbuffer: the `.tflite` bytes (float32 input and output, int8 products inside).
        model: the Keras twin of the file: the fake-quant model with the output requantization added.
        output_ranges: dict layer name -> `[low, high]` of the requantized outputs (see `output_ranges`).
        float_layers: quantized layers left float in the file because their bits are not 8.
    """

    flatbuffer: bytes
    model: keras.Model
    output_ranges: dict
    float_layers: list


def export_int8(result, calibration_images, non_8bit="error", batch_size=32):
    """Exports an 8-bit `quantize_vit` result to an int8 TFLite flatbuffer with the searched scales.

    Args:
        result: a `QuantizationResult`.
        calibration_images: float32 `(n, h, w, c)` images for the output ranges (the search's own
            calibration images are the natural choice).
        non_8bit: what to do with layers whose bits are not 8 (TFLite has no 2-7 or 9-16-bit kernels):
            `"error"` (default) or `"float"` (leave them float in the file; `Int8Export.float_layers`).
        batch_size: calibration batch size.

    Returns:
        An `Int8Export`.

    Example:
    ```python
    result = quantize_vit(model, calibration_images, bits=8)
    exported = export_int8(result, calibration_images)
    open("deit_int8.tflite", "wb").write(exported.flatbuffer)
    ```
    """
    if non_8bit not in ("error", "float"):
        raise ValueError(f"export_int8: non_8bit must be 'error' or 'float'; received {non_8bit!r}.")
    products = [layer for layer in result.model.layers if isinstance(layer, _PRODUCT_LAYERS)]
    if not products:
        raise ValueError("export_int8: the model has no fake-quantized layer. Fix: pass the result of quantize_vit.")
    other_bits = sorted(layer.name for layer in products if layer.bits != TFLITE_BITS)
    if other_bits and non_8bit == "error":
        raise ValueError(
            f"export_int8: TFLite has 8-bit kernels only, and {len(other_bits)} layer(s) have other bits "
            f"({', '.join(other_bits[:4])}{', ...' if len(other_bits) > 4 else ''}); lower bit widths are "
            "simulated in Keras only. Fix: export a uniform bits=8 result, or pass non_8bit='float' to leave "
            "those layers float in the file."
        )
    eight_bit = [layer for layer in products if layer.bits == TFLITE_BITS]
    ranges = output_ranges(result.model, eight_bit, calibration_images, batch_size)
    twin = _export_twin(result.model, ranges, set(other_bits))
    fold_embedding_requantization(twin, result.model, calibration_images, ranges, batch_size)
    return Int8Export(with_float_islands(convert_fake_quant_model(twin)), twin, ranges, other_bits)


def output_ranges(model, layers, images, batch_size=32, max_images=32, factors=np.linspace(0.2, 1.0, 33)):
    """`{layer name: [low, high]}`: the 8-bit requantization range of each of `layers`' product outputs.

    The outputs on up to `max_images` images give the min-max range; the range kept is the one of
    `factors x (min, max)` whose requantized output has the highest Pearson similarity with the float
    output (the paper's criterion, applied to the one quantization the paper does not have). A min-max
    range is set by rare outliers, and its coarse step, amplified by the next LayerNorm, was what cost
    the digits DeiT most of its top-1 agreement with the simulated model.
    """
    if not layers:
        return {}
    outputs = [layer.output[0] if isinstance(layer, FakeQuantAttention) else layer.output for layer in layers]
    probe = keras.Model(model.inputs, outputs)
    images = np.asarray(images, np.float32)[:max_images]
    captured = [[] for _ in layers]
    for start in range(0, len(images), batch_size):
        values = probe(images[start:start + batch_size], training=False)
        for i, value in enumerate(values if isinstance(values, (list, tuple)) else [values]):
            captured[i].append(keras.ops.convert_to_numpy(value))
    ranges = {}
    for layer, values in zip(layers, captured):
        values = np.concatenate(values)
        low, high = float(values.min()), float(values.max())
        if high <= low:
            ranges[layer.name] = [low - 1e-6, high + 1e-6]
            continue
        candidates = [(f * low, f * high) for f in factors if f * high > f * low]
        quantized = np.stack([keras.ops.convert_to_numpy(fake_quant_range(values, c)) for c in candidates])
        scores = batched_similarity(values, quantized)
        ranges[layer.name] = [float(v) for v in candidates[int(np.argmax(scores))]]
    return ranges


def fold_embedding_requantization(twin, model, images, ranges, batch_size=32):
    """Subtracts the mean requantization error of the tokens entering the position embedding from it.

    In the file the patch embedding writes int8 and the class (and distillation) tokens are concatenated
    in int8 at its scale; the position embedding is added in float after a DEQUANTIZE. The twin's
    class tokens are set to their int8 values, and the twin's position embedding loses the mean, over
    `images`, of (twin tokens - `model` tokens) per token and channel: exact for the class tokens,
    the expected error for the patches. On the digits DeiT this mean error, not the spread, was the
    largest part of the file's disagreement with the fake-quant model (docs/quantization.md).
    Models without one `PositionEmbedding` after a requantized patch embedding are left as they are.
    """
    positions = [layer for layer in twin.layers if isinstance(layer, PositionEmbedding)]
    patch = [layer for layer in twin.layers if isinstance(layer, FakeQuantConv2D) and layer.name in ranges]
    if len(positions) != 1 or len(patch) != 1:
        return
    position = positions[0]
    for token in (layer for layer in twin.layers if isinstance(layer, ClassToken)):
        value = token.get_weights()[0]
        token.set_weights([keras.ops.convert_to_numpy(fake_quant_range(value, ranges[patch[0].name]))])
    twin_tokens = keras.Model(twin.inputs, position.input)
    float_tokens = keras.Model(model.inputs, model.get_layer(position.name).input)
    images = np.asarray(images, np.float32)
    error = np.zeros(position.embedding.shape, np.float64)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        difference = keras.ops.convert_to_numpy(twin_tokens(batch)) - keras.ops.convert_to_numpy(float_tokens(batch))
        error += difference.sum(axis=0, keepdims=True)
    position.set_weights([position.get_weights()[0] - (error / len(images)).astype(np.float32)])


def _export_twin(model, ranges, float_names):
    """A clone of the fake-quant model with output ranges set, and `float_names` made float."""
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, _PRODUCT_LAYERS):
            if layer.name in float_names:
                floats = dict(intervals=None) if isinstance(layer, FakeQuantAttention) else dict(
                    input_delta=None, weight_delta=None)
                config.update(output_range=None, **floats)
            else:
                config["output_range"] = ranges.get(layer.name)
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    by_name = {layer.name: layer for layer in model.layers}
    for new in twin.layers:
        if new.weights:
            new.set_weights(by_name[new.name].get_weights())
    return twin


def with_float_islands(flatbuffer):
    """Runs in float the int8 ops XNNPACK does not take (the converter makes GELU an int8 lookup table)."""
    from keras_hire.deploy.xnnpack_islands import with_xnnpack_float_islands

    return with_xnnpack_float_islands(flatbuffer)[0]


def convert_fake_quant_model(model):
    """The int8 flatbuffer (batch 1) of a model of fake-quant layers: their ranges become the int8 scales."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec((1,) + tuple(model.inputs[0].shape[1:]), tf.float32)
    with tflite_fake_quant_ops():
        function = tf.function(lambda images: model(images, training=False), input_signature=[spec])
        frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # reads the fake-quant ranges as int8 scales
    return converter.convert()
