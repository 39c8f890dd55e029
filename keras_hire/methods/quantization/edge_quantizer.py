"""Google's ai-edge-quantizer recipes on the same float model, for the comparison in the PTQ report.

Its static recipes calibrate through a signature, which the batch-1 files of `to_tflite` lack, so the
float model is converted here from a batch-1 SavedModel (`serving_default`). Needs the `quantization` extra.
"""

import os
import tempfile

import numpy as np

RECIPES = ("static_wi8_ai8", "static_wi8_ai16", "dynamic_wi8_afp32")


def edge_quantizer_files(model, calibration_images, recipes=RECIPES, log=print):
    """`{recipe: flatbuffer bytes}`: each ai-edge-quantizer recipe applied to `model`'s float32 file.

    Args:
        model: a Keras model with one image input.
        calibration_images: float32 `(n, h, w, c)` images for the static recipes.
        recipes: names of `ai_edge_quantizer.recipe` functions.
    """
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as error:
        raise ImportError("The ai-edge-quantizer comparison needs `pip install -e '.[quantization]'`.") from error
    unknown = [name for name in recipes if not hasattr(recipe, name)]
    if unknown:
        raise ValueError(f"Unknown ai-edge-quantizer recipe(s) {unknown}; known here: {', '.join(RECIPES)}.")
    float_file = _float_with_signature(model)
    files = {}
    for name in recipes:
        log(f"[quantize] ai-edge-quantizer {name} ...")
        engine = quantizer.Quantizer(float_file, getattr(recipe, name)())
        calibration = None
        if engine.need_calibration:
            samples = [{"images": image[None]} for image in np.asarray(calibration_images, np.float32)]
            calibration = engine.calibrate({"serving_default": samples})
        files[name] = bytes(engine.quantize(calibration, enable_progress_report=False).quantized_model)
    return files


def _float_with_signature(model):
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "saved_model")
        spec = tf.TensorSpec((1,) + tuple(model.inputs[0].shape[1:]), tf.float32, name="images")
        model.export(path, format="tf_saved_model", verbose=False, input_signature=[spec])  # batch 1: static shapes
        converter = tf.lite.TFLiteConverter.from_saved_model(path)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
