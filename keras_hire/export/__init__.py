"""TFLite (LiteRT) conversion, interpreters and verification against Keras. TensorFlow-only.

```python
flatbuffer = keras_hire.export.to_tflite(model, quantization="int8", representative_data=[images])
keras_hire.export.verify_against_keras(model, flatbuffer, eval_images, eval_labels)  # agreement, accuracies
keras_hire.export.run_tflite(flatbuffer, images)                                     # float outputs
```

Measuring files (latency, XNNPACK coverage, the GPU-delegate check) is `keras_hire.benchmark`; the
verified-export flow with its report (`export_tflite_files`, `export_keras_file`) is
`keras_hire.deploy`. Both import this package; it imports neither.
"""

from keras_hire.export.float_depthwise import float_depthwise_weights
from keras_hire.export.interpreter import make_interpreter, run_tflite
from keras_hire.export.multi_signature import DRNetRunner, export_drnet
from keras_hire.export.tflite import QUANTIZATIONS, UnsupportedOpError, tflite_op_names, to_tflite
from keras_hire.export.verify import verify_against_keras

__all__ = [
    "QUANTIZATIONS", "UnsupportedOpError", "float_depthwise_weights", "make_interpreter", "run_tflite",
    "tflite_op_names", "to_tflite", "verify_against_keras",
]
__all__ += ["DRNetRunner", "export_drnet"]
