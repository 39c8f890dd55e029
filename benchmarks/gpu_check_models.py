"""GPU-delegate check of registered models' float32 TFLite files (random weights).

    sudo tflite/install_gpu_check.sh      # once: Mesa 25 lavapipe (a software Vulkan device)
    python benchmarks/gpu_check_models.py --models=hire_mlp_small:224,cmt_small:224

Prints, per model, whether LiteRT's WebGPU delegate accepts every op, the ops it rejects and any
kernel errors on the device (see keras_hire.export.gpu_check for what this check does and does not say).
"""

import os
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

import keras_hire  # noqa: E402
from keras_hire.export import gpu_delegate_check, to_tflite  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["hire_mlp_small:224", "cmt_tiny:160", "cmt_small:224", "deit_small:224",
                             "aug_vit_small:224"], "registry_name:input_size entries.")


def main(_):
    print("| model | fully accelerated | GPU ops | CPU ops | rejected | kernel errors |\n|---|---|---|---|---|---|")
    for entry in FLAGS.models:
        name, size = entry.split(":")
        model = keras_hire.models.create_model(name, input_shape=(int(size), int(size), 3))
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, f"{name}.tflite")
            with open(path, "wb") as handle:
                handle.write(to_tflite(model))
            result = gpu_delegate_check(path)
        if not result["available"]:
            print(f"| {entry} | no Vulkan device: run tflite/install_gpu_check.sh | | | | |")
            continue
        rejected = "; ".join(f"{op}: {why}" for op, why in result["rejected"].items()) or "none"
        print(f"| {entry} | {result['fully_accelerated']} | {result['gpu_ops']} | {result['cpu_ops']} | "
              f"{rejected} | {len(result['runtime_errors'])} |")


if __name__ == "__main__":
    app.run(main)
