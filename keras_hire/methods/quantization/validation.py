"""Checks of `quantize_vit`'s inputs, each failing with the problem and the fix."""

import numpy as np

from keras_hire.methods.quantization.functions import to_numpy

# Fewer images than this give meaningless interval statistics; the paper uses 100 (CIFAR) and 1000 (ImageNet).
MIN_CALIBRATION_IMAGES = 4
# Normalised images stay well inside this; raw 0-255 pixels do not.
MAX_ABS_PIXEL = 20.0


def check_calibration_images(model, images, min_images=MIN_CALIBRATION_IMAGES):
    """Returns the calibration images as float32 numpy `(N, H, W, C)` matching `model`, or raises `ValueError`."""
    if len(model.inputs) != 1:
        raise ValueError(f"quantize_vit needs a model with one image input; '{model.name}' has {len(model.inputs)}.")
    expected = tuple(model.inputs[0].shape[1:])
    images = to_numpy(images)
    if images.ndim != 4:
        raise ValueError(f"calibration_images must be a batch (N, H, W, C) = (N, {', '.join(map(str, expected))}); "
                         f"received shape {images.shape}.")
    if images.shape[-1] != expected[-1]:
        raise ValueError(f"calibration_images have {images.shape[-1]} channels but '{model.name}' takes "
                         f"{expected[-1]}; received shape {images.shape}.")
    if tuple(images.shape[1:3]) != tuple(expected[:2]):
        raise ValueError(f"calibration_images are {images.shape[1]}x{images.shape[2]} but '{model.name}' is built for "
                         f"{expected[0]}x{expected[1]}; resize them (or build the model for that size).")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"calibration_images must be float images normalised as for training (model_info mean/std); "
                         f"received dtype {images.dtype}. Convert with images.astype('float32') and normalise.")
    if images.shape[0] < min_images:
        raise ValueError(f"quantize_vit needs at least {min_images} calibration images; received {images.shape[0]}. "
                         f"The paper uses 100 (CIFAR) to 1000 (ImageNet).")
    if not np.all(np.isfinite(images)):
        raise ValueError("calibration_images contain NaN or infinite values.")
    peak = float(np.max(np.abs(images)))
    if peak > MAX_ABS_PIXEL:
        raise ValueError(f"calibration_images reach |x| = {peak:g}, which looks like raw pixels; normalise them as for "
                         f"training (e.g. (x / 255 - mean) / std with the model's model_info).")
    return images.astype(np.float32)
