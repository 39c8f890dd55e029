"""TFLite (LiteRT) export and inspection. TensorFlow-only."""

from keras_hire.export.tflite import UnsupportedOpError, tflite_op_names, to_tflite

__all__ = ["UnsupportedOpError", "tflite_op_names", "to_tflite"]
