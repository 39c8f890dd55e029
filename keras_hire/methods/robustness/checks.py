"""Argument checks shared by the attacks and adversarial training: a bad value fails before any work,
naming the argument, the value and the fix. Images are pixels in `[0, 1]` throughout."""

import numpy as np

PIXEL_RANGE = (0.0, 1.0)
NORMS = ("linf", "l2")


def check_attack_arguments(epsilon, step_size, steps, norm="linf"):
    """Refuses a negative or out-of-range epsilon / step size, zero steps and an unknown norm."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r}: unknown. Fix: use 'linf' (the default) or 'l2'.")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps={steps!r}: an attack needs at least 1 gradient step. Fix: pass an integer "
                         "steps >= 1 (PGD-20: steps=20; FGSM is one step).")
    _check_radius("epsilon", epsilon, norm, allow_zero=True)
    _check_radius("step_size", step_size, norm, allow_zero=False)


def _check_radius(name, value, norm, allow_zero):
    if not np.isscalar(value) or not np.isfinite(value):
        raise ValueError(f"{name}={value!r}: must be a finite number. Fix: pass a float, e.g. {name}=8/255.")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value}: must be {'>= 0' if allow_zero else '> 0'}. Fix: pass a positive "
                         f"{name} on the [0, 1] pixel scale, e.g. 0.3 (MNIST) or 8/255 (CIFAR).")
    if norm == "linf" and value > PIXEL_RANGE[1] - PIXEL_RANGE[0]:
        raise ValueError(f"{name}={value}: larger than the [0, 1] pixel range, so L-inf attacks would be "
                         f"unbounded. Fix: give it on the [0, 1] scale (e.g. 8/255 = {8 / 255:.4f}, not 8).")


def check_pixel_images(images):
    """Images must be float pixels in `[0, 1]` (attacks clip there); normalised images are refused."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images of shape {images.shape}: expected a batch (N, H, W, C). Fix: add the batch "
                         "axis (images[None]) or the channel axis (images[..., None]).")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images of dtype {images.dtype}: expected float pixels in [0, 1]. Fix: "
                         "images.astype('float32') / 255.")
    low, high = float(images.min()), float(images.max())
    if low < PIXEL_RANGE[0] - 1e-6 or high > PIXEL_RANGE[1] + 1e-6:
        raise ValueError(f"images span [{low:.3g}, {high:.3g}], outside the [0, 1] pixel range the attacks "
                         "clip to. Fix: pass pixels / 255, and if the model expects normalised inputs wrap it "
                         "with keras_hire.methods.robustness.with_normalization(model, mean, std).")
    return images.astype("float32", copy=False)


def check_labels(labels, count, num_classes):
    """Integer class ids (or one-hot rows) for `count` images; returns int32 ids."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(-1)
    if labels.ndim != 1 or labels.shape[0] != count:
        raise ValueError(f"labels of shape {labels.shape} for {count} images: expected one class id (or one-hot "
                         "row) per image. Fix: pass labels of shape (N,).")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels span [{labels.min()}, {labels.max()}] but the model has {num_classes} classes. "
                         "Fix: pass class ids in [0, num_classes).")
    return labels.astype("int32")


def check_logits_model(model, probe):
    """The model must return one row of unnormalised logits per image; softmax outputs are refused
    (their gradients vanish, and attacks on them overstate robustness)."""
    outputs = model(probe, training=False)
    if isinstance(outputs, (dict, list, tuple)):
        raise ValueError(f"{model.name} returns {type(outputs).__name__} outputs; attacks need one logits tensor. "
                         "Fix: pass a model whose output is the (N, classes) logits, e.g. keras.Model(model.input, "
                         "model.output['logits']).")
    if len(outputs.shape) != 2:
        raise ValueError(f"{model.name} returns shape {tuple(outputs.shape)}; attacks need (N, classes) logits. "
                         "Fix: build the model with its classifier head (include_top=True).")
    last = getattr(model.layers[-1], "activation", None) if getattr(model, "layers", None) else None
    values = np.asarray(outputs, dtype="float32")
    sums_to_one = values.min() >= 0 and np.allclose(values.sum(-1), 1.0, atol=1e-4)
    if getattr(last, "__name__", "") == "softmax" or sums_to_one:
        raise ValueError(f"{model.name} outputs probabilities (softmax), not logits. Fix: rebuild its last layer "
                         "without the softmax (activation=None); attacks and ART's classifier take logits.")
    return int(outputs.shape[-1])
