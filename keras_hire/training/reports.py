"""Run reports: the metrics JSON and the training-curve PNG in `model_dir`."""

import hashlib
import os

import numpy as np

from keras_hire.utils.atomic import atomic_write_json
from keras_hire.utils.plots import pyplot, save_figure


def weights_digest(model):
    """SHA-256 of the model's weights in order: equal digests mean bit-identical weights."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def write_metrics(path, config, history, final=None, extra=None):
    """Writes `{"config", "history", "final", ...}` atomically as JSON."""
    report = {"config": config, "history": history, "final": final or {}}
    report.update(extra or {})
    atomic_write_json(path, report)
    return report


def plot_training_curves(path, history):
    """Loss, accuracy and learning rate per epoch, train vs eval, as a PNG (atomic write)."""
    if not history:
        return None
    epochs = [record["epoch"] for record in history]
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("learning_rate", "learning rate")]
    figure, axes = pyplot().subplots(1, 3, figsize=(13, 3.6))
    for axis, (key, title) in zip(axes, panels):
        for prefix, label in (("", "train"), ("val_", "eval")):
            if key == "learning_rate" and prefix:
                continue
            values = [record.get(prefix + key) for record in history]
            if any(v is not None for v in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=label)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if key != "learning_rate":
            axis.legend()
    figure.tight_layout()
    return save_figure(figure, path)


def metrics_path(model_dir, chief, task):
    """`model_dir/metrics.json` on the chief, `model_dir/workers/<task>/metrics.json` elsewhere."""
    if chief:
        return os.path.join(model_dir, "metrics.json")
    return os.path.join(model_dir, "workers", task, "metrics.json")
