"""Child process for tests/test_ghostnet.py: small GhostNets -> float32 and int8 TFLite -> JSON facts.

TFLiteConverter.convert() leaks memory (tensorflow#122598), so the conversions run here.
Usage: python tests/ghostnet_tflite_child.py OUT.json NAME [NAME ...]
"""

import json
import sys

import keras
import numpy as np

from keras_hire.benchmark.coverage import xnnpack_coverage
from keras_hire.export import run_tflite, tflite_op_names, to_tflite
from keras_hire.models import create_model

SMALL = dict(num_classes=10, input_shape=(64, 64, 3), stage_depths=(1, 2, 1, 2, 1, 2))


def facts(name):
    keras.utils.set_random_seed(0)
    model = create_model(name, **SMALL)
    images = np.random.default_rng(0).uniform(-1, 1, size=(24, 64, 64, 3)).astype("float32")
    for _ in range(30):  # BatchNorm statistics of the data, so that activations and logits are O(1)
        model(images[:16], training=True)
    expected = model.predict(images[16:], verbose=0)
    out = {}
    for quantization in ("float32", "int8"):
        flatbuffer = to_tflite(model, quantization, representative_data=images[:16])
        got = run_tflite(flatbuffer, images[16:])
        coverage = xnnpack_coverage(flatbuffer)
        out[quantization] = {
            "max_error": float(np.abs(got - expected).max()),
            "scale": float(np.abs(expected).max()),
            "top1_agreement": float(np.mean(got.argmax(-1) == expected.argmax(-1))),
            "not_delegated": coverage["not_delegated"],
            "ops": sorted(set(tflite_op_names(flatbuffer))),
        }
    return out


def main(out_path, names):
    with open(out_path, "w") as f:
        json.dump({name: facts(name) for name in names}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
