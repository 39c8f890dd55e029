"""Child process for tests/test_quantization_int8.py: tiny DeiT -> quantize_vit -> export_int8 -> JSON facts.

TFLiteConverter.convert() leaks memory (tensorflow#122598), so the conversion runs here.
Usage: python tests/int8_export_child.py OUT.json
"""

import json
import sys

import keras
import numpy as np

from keras_hire.benchmark.coverage import xnnpack_coverage
from keras_hire.export import run_tflite, tflite_op_names
from keras_hire.export.interpreter import make_interpreter
from keras_hire.methods.quantization import quantize_vit
from keras_hire.methods.quantization.int8_export import _export_twin, export_int8
from keras_hire.methods.quantization.int8_scales import match_int8_scales, read_int8_products
from keras_hire.models import create_model


def op_input_dtypes(flatbuffer, op_name):
    """The dtype names of the first input of every `op_name` op in the file."""
    interpreter = make_interpreter(flatbuffer, xnnpack=False)
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    return [tensors[op["inputs"][0]]["dtype"].__name__ for op in interpreter._get_ops_details()
            if op["op_name"] == op_name]


def chained_quantizations(flatbuffer):
    """How many QUANTIZE ops read the output of another QUANTIZE (a value rounded twice)."""
    interpreter = make_interpreter(flatbuffer, xnnpack=False)
    ops = interpreter._get_ops_details()
    quantized = {op["outputs"][0] for op in ops if op["op_name"] == "QUANTIZE"}
    return sum(op["op_name"] == "QUANTIZE" and op["inputs"][0] in quantized for op in ops)


def embedding_mean_error(twin, model, images):
    """Max over tokens and channels of |mean over images of (twin - model) after the position embedding|."""
    outputs = [keras.Model(m.inputs, m.get_layer("pos_embed").output)(images) for m in (twin, model)]
    return float(np.abs(np.mean(keras.ops.convert_to_numpy(outputs[0] - outputs[1]), axis=0)).max())


def family_facts(name, images, **overrides):
    """A one-block `name` through quantize_vit and export_int8: scales matched, XNNPACK coverage, agreement."""
    keras.utils.set_random_seed(0)
    model = create_model(name, num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=1, embed_dim=48,
                         num_heads=3, **overrides)
    result = quantize_vit(model, images[:16], bits=8, grid_size=6, max_rounds=1)
    exported = export_int8(result, images[:16])
    file_logits = run_tflite(exported.flatbuffer, images[16:])
    fake_logits = keras.ops.convert_to_numpy(result.model(images[16:]))
    matched = match_int8_scales(exported.flatbuffer, result.model)
    linear = {n: i.input for n, i in result.intervals.items() if "matmul" not in n}
    return {
        "linear": sorted(linear), "matched": sorted(matched),
        "input_scales_equal": all(abs(matched[n]["file_input_scale"] / linear[n] - 1) < 1e-5 for n in matched),
        "not_delegated": xnnpack_coverage(exported.flatbuffer)["not_delegated"],
        "agreement": float(np.mean(file_logits.argmax(-1) == fake_logits.argmax(-1))),
    }


def main(out_path):
    keras.utils.set_random_seed(0)
    model = create_model("deit_tiny", num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=2,
                         embed_dim=48, num_heads=3)
    images = np.random.default_rng(0).normal(size=(48, 32, 32, 3)).astype("float32")
    result = quantize_vit(model, images[:16], bits=8, grid_size=10, max_rounds=2)
    exported = export_int8(result, images[:16])
    held_out = images[16:]
    file_logits = run_tflite(exported.flatbuffer, held_out)
    fake_logits = keras.ops.convert_to_numpy(result.model(held_out))
    twin_logits = keras.ops.convert_to_numpy(exported.model(held_out))
    unfolded = _export_twin(result.model, exported.output_ranges, set())
    mixed = quantize_vit(model, images[:16], bits=6, mixed_precision=True, grid_size=6, max_rounds=1)
    try:
        export_int8(mixed, images[:16])
        mixed_error = ""
    except ValueError as error:
        mixed_error = str(error)
    mixed_float = export_int8(mixed, images[:16], non_8bit="float")
    facts = {
        "intervals": {name: [i.weight, i.input, i.bits] for name, i in result.intervals.items()},
        "matched": match_int8_scales(exported.flatbuffer, result.model),
        "int8_products": len(read_int8_products(exported.flatbuffer)),
        "not_delegated": xnnpack_coverage(exported.flatbuffer)["not_delegated"],
        "ops": tflite_op_names(exported.flatbuffer),
        "gelu_inputs": op_input_dtypes(exported.flatbuffer, "GELU"),
        "output_ranges": exported.output_ranges,
        "agreement": float(np.mean(file_logits.argmax(-1) == fake_logits.argmax(-1))),
        "max_diff_twin": float(np.abs(file_logits - twin_logits).max()),
        "logit_scale": float(np.abs(twin_logits).max()),
        "chained_quantizations": chained_quantizations(exported.flatbuffer),
        "embedding_mean_error": embedding_mean_error(exported.model, result.model, images[:16]),
        "embedding_mean_error_unfolded": embedding_mean_error(unfolded, result.model, images[:16]),
        "mixed_error": mixed_error,
        "mixed_float_layers": mixed_float.float_layers,
        "mixed_bits": {layer.name: layer.bits for layer in mixed.model.layers if hasattr(layer, "bits")},
        "mixed_int8_products": len(read_int8_products(mixed_float.flatbuffer)),
        # CaiT (talking heads, class attention; layer scales of 1 so every block counts) and Aug-ViT's
        # block-circulant shortcuts.
        "families": {"cait_s24": family_facts("cait_s24", images, layer_scale_init=1.0),
                     "aug_vit_small": family_facts("aug_vit_small", images)},
    }
    with open(out_path, "w") as f:
        json.dump(facts, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
