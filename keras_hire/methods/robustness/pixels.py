"""Moving between `[0, 1]` pixels (where attacks live) and the normalised inputs a model was trained on.

keras_hire's pipelines feed models `(raw - mean) / std` with `mean`/`std` on the 0-255 scale of the
source (`ImageSource.mean/std`, `ModelInfo.mean/std`). Attack budgets are defined on `[0, 1]`
pixels, so an attacked model is `model((255 * pixels - mean) / std)`.
"""

import keras
import numpy as np


def pixel_stats(mean, std, channels):
    """Per-channel `(mean, std)` on the `[0, 1]` scale from 0-255 statistics (one value is repeated)."""
    mean = np.broadcast_to(np.asarray(mean, "float32").reshape(-1), (channels,)) / 255.0
    std = np.broadcast_to(np.asarray(std, "float32").reshape(-1), (channels,)) / 255.0
    if np.any(std <= 0):
        raise ValueError(f"std={std * 255}: must be > 0 on every channel. Fix: pass the dataset's std (0-255 scale).")
    return mean, std


def with_normalization(model, mean, std, name=None):
    """`model` behind a fixed normalisation: a functional model on `[0, 1]` pixels (what attacks and
    ART take). `mean`/`std` are the 0-255 statistics the model was trained with.

    Example:
    ```python
    pixel_model = with_normalization(model, mean=(0.1307 * 255,), std=(0.3081 * 255,))
    ```
    """
    channels = int(model.input_shape[-1])
    mean, std = pixel_stats(mean, std, channels)
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    normalized = keras.layers.Normalization(mean=mean.tolist(), variance=(std ** 2).tolist(),
                                            name="pixel_normalization")(inputs)
    return keras.Model(inputs, model(normalized), name=name or f"{model.name}_on_pixels")


def to_pixels(normalized, mean, std):
    """Normalised images back to `[0, 1]` pixels (clipped: resizing can overshoot slightly)."""
    mean, std = pixel_stats(mean, std, normalized.shape[-1])
    return np.clip(np.asarray(normalized, "float32") * std + mean, 0.0, 1.0)
