"""Child process for tests: .keras file -> TFLite -> outputs on given inputs.

TFLiteConverter.convert() leaks memory on every call (tensorflow#122598), so test suites that
convert many models do it here, one process per conversion.
Usage: python tests/tflite_child.py MODEL.keras INPUTS.npz OUT.npz QUANTIZATION
"""

import json
import sys

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter

import keras_hire  # noqa: F401  (registers the custom layers for loading)
from keras_hire.export import tflite_op_names, to_tflite


def main(model_path, inputs_path, out_path, quantization):
    model = keras.models.load_model(model_path)
    inputs = np.load(inputs_path)["inputs"]
    flatbuffer = to_tflite(model, quantization=quantization, representative_data=[inputs])
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    outputs = []
    for image in inputs:
        interpreter.set_tensor(input_detail["index"], image[None].astype(input_detail["dtype"]))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_detail["index"])[0])
    np.savez(out_path, outputs=np.stack(outputs), ops=json.dumps(tflite_op_names(flatbuffer)),
             size=len(flatbuffer))


if __name__ == "__main__":
    main(*sys.argv[1:])
