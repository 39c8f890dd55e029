"""GPU-delegate check of registered models' float32 TFLite files (random weights).

    sudo tflite/install_gpu_check.sh      # once: Mesa 25 lavapipe (a software Vulkan device)
    python benchmarks/gpu_check_models.py --models=hire_mlp_small:224,cmt_small:224

Prints, per model, whether LiteRT's WebGPU delegate accepts every op, the ops it rejects and any
kernel errors on the device (see keras_hire.benchmark.gpu_check for what this check does and does not say).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.benchmark.configs import GpuCheckConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.benchmark import benchmark_model, gpu_check_model, parse_model_entry

    print("| model | fully accelerated | GPU ops | CPU ops | rejected | kernel errors |\n|---|---|---|---|---|---|")
    for entry in config.models:
        result = gpu_check_model(benchmark_model(*parse_model_entry(entry), trained_like=False))
        if not result["available"]:
            print(f"| {entry} | no Vulkan device: run tflite/install_gpu_check.sh | | | | |")
            continue
        rejected = "; ".join(f"{op}: {why}" for op, why in result["rejected"].items()) or "none"
        print(f"| {entry} | {result['fully_accelerated']} | {result['gpu_ops']} | {result['cpu_ops']} | "
              f"{rejected} | {len(result['runtime_errors'])} |")


if __name__ == "__main__":
    run_config_binary(GpuCheckConfig, main)
