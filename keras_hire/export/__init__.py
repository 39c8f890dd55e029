"""TFLite (LiteRT) export, verification, delegate coverage and benchmarking. TensorFlow-only.

```python
flatbuffer = keras_hire.export.to_tflite(model, quantization="int8", representative_data=[images])
report = keras_hire.export.export_tflite_files(model, "out/", representative_images=train_images,
                                               eval_images=test_images, eval_labels=test_labels)
keras_hire.export.benchmark_tflite("out/model.float32.tflite", num_threads=2)
keras_hire.export.xnnpack_coverage("out/model.float32.tflite")["not_delegated"]
```
"""

from keras_hire.export.atomic import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text
from keras_hire.export.benchmark import benchmark_files, benchmark_markdown, benchmark_tflite, time_interpreter
from keras_hire.export.coverage import format_not_delegated, xnnpack_coverage
from keras_hire.export.files import export_markdown, export_tflite_files
from keras_hire.export.float_depthwise import float_depthwise_weights
from keras_hire.export.gpu_check import gpu_delegate_check, parse_gpu_log
from keras_hire.export.interpreter import make_interpreter, run_tflite
from keras_hire.export.machine import gemm_rate, keras_xla_latency
from keras_hire.export.report import markdown_table
from keras_hire.export.tflite import QUANTIZATIONS, UnsupportedOpError, tflite_op_names, to_tflite
from keras_hire.export.verify import verify_against_keras
from keras_hire.export.workflow import export_keras_file

__all__ = [
    "QUANTIZATIONS", "UnsupportedOpError", "atomic_save", "atomic_write_bytes", "atomic_write_json",
    "atomic_write_text", "benchmark_files", "benchmark_markdown", "benchmark_tflite", "export_keras_file", "export_markdown", "export_tflite_files", "float_depthwise_weights",
    "format_not_delegated",
    "gemm_rate", "gpu_delegate_check", "keras_xla_latency", "make_interpreter", "markdown_table", "parse_gpu_log", "run_tflite",
    "time_interpreter", "tflite_op_names", "to_tflite", "verify_against_keras", "xnnpack_coverage",
]
