"""Child process for tests: .keras file -> TFLite -> outputs on given inputs.

TFLiteConverter.convert() leaks memory on every call (tensorflow#122598), so test suites that
convert many models do it here, one process per conversion.
Usage: python tests/tflite_child.py MODEL.keras INPUTS.npz OUT.npz QUANTIZATION
"""

import json
import sys

import keras
import numpy as np

import keras_hire  # noqa: F401  (registers the custom layers for loading)
from keras_hire.export import run_tflite, tflite_op_names, to_tflite


def main(model_path, inputs_path, out_path, quantization):
    model = keras.models.load_model(model_path)
    inputs = np.load(inputs_path)["inputs"]
    flatbuffer = to_tflite(model, quantization=quantization, representative_data=[inputs])
    outputs = run_tflite(flatbuffer, inputs)  # (de)quantizes int8 inputs and outputs
    np.savez(out_path, outputs=outputs, ops=json.dumps(tflite_op_names(flatbuffer)), size=len(flatbuffer))


if __name__ == "__main__":
    main(*sys.argv[1:])
