"""The saved state of an interrupted `quantize_vit` search: finished layers are not searched again."""

import dataclasses
import hashlib
import json
import os

import numpy as np

from keras_hire.methods.quantization.search import SearchOutcome
from keras_hire.utils.atomic import atomic_write_json


def fingerprint(model, images, settings):
    """SHA-256 of the model's weights, the calibration images and the search settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()


class SearchState:
    """Outcomes per `(layer, bits)`, written atomically to `path` after every searched layer.

    Args:
        path: a JSON file; None keeps nothing (a search that cannot resume).
        key: the search's `fingerprint`; a state file written for another model, other images or
            other settings is refused rather than silently mixed in.
    """

    def __init__(self, path, key):
        self.path, self.key, self.layers = path, key, {}
        if path and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            if saved.get("fingerprint") != key:
                raise ValueError(
                    f"quantize_vit: the search state {path} was written for another model, other calibration "
                    "images or other settings. Fix: delete it to start over, or pass another state_path."
                )
            self.layers = saved["layers"]

    def restored(self, layer_name, bits):
        """The saved `[(operation name, SearchOutcome)]` of a layer at `bits`, or None."""
        found = self.layers.get(f"{layer_name}@{bits}")
        return None if found is None else [(name, _outcome(values)) for name, values in found]

    def save(self, layer_name, bits, outcomes):
        if not self.path:
            return
        self.layers[f"{layer_name}@{bits}"] = [(name, _jsonable(o)) for name, o in outcomes]
        atomic_write_json(self.path, {"fingerprint": self.key, "layers": self.layers})


def _jsonable(outcome):
    values = dataclasses.asdict(outcome)
    values["correction"] = None if outcome.correction is None else np.asarray(outcome.correction).tolist()
    values["bias_terms"] = None if outcome.bias_terms is None else {
        k: np.asarray(v).tolist() for k, v in outcome.bias_terms.items()}
    return values


def _outcome(values):
    values = dict(values)
    if values["correction"] is not None:
        values["correction"] = np.asarray(values["correction"], np.float32)
    if values["bias_terms"] is not None:
        values["bias_terms"] = {k: np.asarray(v, np.float64) for k, v in values["bias_terms"].items()}
    return SearchOutcome(**values)
