"""Checks a TFLite file against its Keras model on held-out real images."""

import numpy as np

from keras_hire.export.interpreter import run_tflite


def verify_against_keras(model, tflite_model, images, labels=None, keras_logits=None, batch_size=128):
    """Top-1 agreement, accuracies and max abs logit difference of a TFLite file vs its Keras model.

    Args:
        model: the Keras model (unused when `keras_logits` is given).
        tflite_model: flatbuffer bytes or a `.tflite` path.
        images: preprocessed float32 images `(N, H, W, C)`, as the Keras model takes them.
        labels: optional int labels `(N,)` for accuracies.
        keras_logits: precomputed Keras outputs, to share them across several files.

    Returns:
        dict with `agreement`, `max_abs_diff`, `tflite_accuracy`, `keras_accuracy`,
        `accuracy_drop` (points, Keras minus TFLite) and `num_images`.
    """
    if keras_logits is None:
        keras_logits = model.predict(images, batch_size=batch_size, verbose=0)
    keras_logits = np.asarray(keras_logits, np.float32)
    tflite_logits = run_tflite(tflite_model, images)
    keras_top1, tflite_top1 = keras_logits.argmax(-1), tflite_logits.argmax(-1)
    result = {
        "num_images": int(len(images)),
        "agreement": float(np.mean(keras_top1 == tflite_top1)),
        "max_abs_diff": float(np.max(np.abs(keras_logits - tflite_logits))),
    }
    if labels is not None:
        labels = np.asarray(labels)
        result["keras_accuracy"] = float(np.mean(keras_top1 == labels))
        result["tflite_accuracy"] = float(np.mean(tflite_top1 == labels))
        result["accuracy_drop"] = round(100 * (result["keras_accuracy"] - result["tflite_accuracy"]), 2)
    return result
