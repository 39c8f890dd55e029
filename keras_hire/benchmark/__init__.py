"""Measuring TFLite files and models: latency, GEMM rate, XNNPACK coverage, GPU-delegate check.

The one place `benchmarks/*.py`, `tflite/benchmark.py`, the quickstart and the method reports
take their measurements from. TensorFlow-only; imports `keras_hire.export` (conversion, the
interpreter), `models` and `utils`, never `training` or a method.

```python
keras_hire.benchmark.benchmark_tflite("out/model.float32.tflite", num_threads=2)    # median_ms, p90_ms
keras_hire.benchmark.xnnpack_coverage(flatbuffer)["not_delegated"]                   # {} when XNNPACK takes all
keras_hire.benchmark.gemm_rate(threads=2)["median_gflops"]                           # the yardstick
```
"""

from keras_hire.benchmark.ceiling import channel_mlp_stack, gemm_ceiling, matmul
from keras_hire.benchmark.coverage import format_delegated, format_not_delegated, xnnpack_coverage
from keras_hire.benchmark.entries import benchmark_model, parse_model_entry
from keras_hire.benchmark.files import benchmark_files, benchmark_markdown
from keras_hire.benchmark.gemm import achieved_gflops, gemm_rate, gemm_sample
from keras_hire.benchmark.gpu_check import gpu_check_model, gpu_delegate_check, gpu_summary, parse_gpu_log
from keras_hire.benchmark.keras_latency import keras_xla_latency
from keras_hire.benchmark.peers import load_peers
from keras_hire.benchmark.speed import measure_model, model_files, speed_markdown, speed_row, speed_summary
from keras_hire.benchmark.stage_profile import profile_stages
from keras_hire.benchmark.stages import stage_prefixes, stage_shapes_and_macs
from keras_hire.benchmark.sweeps import alternate, medians, progress
from keras_hire.benchmark.timing import benchmark_tflite, median_ms, time_interpreter
from keras_hire.benchmark.trained_like import perturb_normalization

__all__ = [
    "achieved_gflops", "alternate", "benchmark_files", "benchmark_markdown", "benchmark_model", "benchmark_tflite",
    "channel_mlp_stack", "format_delegated",
    "format_not_delegated", "gemm_ceiling", "gemm_rate", "gemm_sample", "gpu_check_model", "gpu_delegate_check",
    "gpu_summary", "keras_xla_latency", "load_peers", "matmul", "measure_model", "median_ms", "medians",
    "model_files", "parse_gpu_log", "parse_model_entry", "perturb_normalization", "profile_stages", "progress",
    "speed_markdown", "speed_row", "speed_summary", "stage_prefixes", "stage_shapes_and_macs", "time_interpreter",
    "xnnpack_coverage",
]
