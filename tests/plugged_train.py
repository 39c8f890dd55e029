"""training/train.py with a plugged-in model: what a method binary looks like (tests run it as a child).

The fitted model wraps the registry model and adds a confidence penalty in its own
`compute_loss`; an extra metric and callback ride along, and the wrapped model is the artefact
saved as `model.keras`. Same flags as training/train.py.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from keras_hire.training import TrainConfig, build_model, train  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


class ConfidencePenalty(keras.Model):
    """Cross-entropy plus `weight` times the mean negative entropy of the predictions."""

    def __init__(self, inner, weight=0.1, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.weight = weight

    def call(self, images, training=False):
        return self.inner(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        probabilities = keras.ops.softmax(keras.ops.cast(y_pred, "float32"))
        negative_entropy = keras.ops.mean(keras.ops.sum(probabilities * keras.ops.log(probabilities + 1e-7), -1))
        return loss + self.weight * negative_entropy


def build_plugged(config, num_classes, input_shape):
    return ConfidencePenalty(build_model(config, num_classes, input_shape))


def main(config):
    log_path = os.path.join(config.model_dir, "plugged_epochs.csv")
    report = train(config, build_model=build_plugged, deployable=lambda model: model.inner,
                   metrics=[lambda: keras.metrics.TopKCategoricalAccuracy(2, name="top2")],
                   callbacks=[keras.callbacks.CSVLogger(log_path, append=True)])
    print(json.dumps({"final": report["final"]}))


if __name__ == "__main__":
    run_config_binary(TrainConfig, main)
