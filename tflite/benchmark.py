"""Benchmarks .tflite files in the LiteRT interpreter (ai_edge_litert) and lists XNNPACK's misses.

    python tflite/benchmark.py --models=runs/mnist/tflite/hire_mlp_tiny.float32.tflite --num_threads=1,2

For each file, thread count and XNNPACK on/off: warm-up, then --runs invokes; median and p90
latency, file size, and every op XNNPACK did not take. --gpu_check also lists the ops LiteRT's GPU
delegate rejects, on a software Vulkan device (install it once with tflite/install_gpu_check.sh).
Writes --output_json and --output_md. The logic is keras_hire.benchmark.benchmark_files.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.benchmark.configs import TFLiteBenchmarkConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    import json

    from keras_hire.benchmark import benchmark_files, benchmark_markdown
    from keras_hire.benchmark.configs import XNNPACK_MODES
    from keras_hire.utils import atomic_write_json, atomic_write_text

    rows = benchmark_files(config.models, config.num_threads, XNNPACK_MODES[config.xnnpack], config.warmup,
                           config.runs, config.gpu_check)
    base = os.path.join(os.path.dirname(os.path.abspath(config.models[0])), "benchmark")
    paths = {"json": config.output_json or base + ".json", "markdown": config.output_md or base + ".md"}
    atomic_write_json(paths["json"], rows)
    table = benchmark_markdown(rows)
    atomic_write_text(paths["markdown"], table)
    print(table)
    print(json.dumps(paths))


if __name__ == "__main__":
    run_config_binary(TFLiteBenchmarkConfig, main)
