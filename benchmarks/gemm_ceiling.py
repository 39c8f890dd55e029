"""How close XNNPACK's float32 kernels get to the machine's GEMM rate on Hire-MLP's shapes.

    python benchmarks/gemm_ceiling.py

Times, in one process and alternately, batch-1 TFLite files of: one 1024^3 matrix product; and
stacks of six channel MLPs (1x1 conv C->4C, optional GELU, 1x1 conv 4C->C, residual) at the
shapes of HireMLP-Small's stages. Each is reported as a fraction of the numpy 2048^3 GEMM rate at
the same thread count (measured in a child process first, so OpenBLAS threads do not compete).
This bounds what any model built from these GEMMs can reach on this CPU with XNNPACK.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_hire.export import benchmark_tflite, gemm_rate, to_tflite  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("threads", 2, "Interpreter and BLAS threads.")
flags.DEFINE_integer("runs", 20, "Timed invokes per case.")

# (name, spatial side, channels) of HireMLP-Small's stages at 224x224.
STAGES = [("stage1 56x56x64", 56, 64), ("stage3 14x14x320", 14, 320), ("stage4 7x7x512", 7, 512)]


def channel_mlp_stack(side, channels, activation, blocks=6):
    inputs = keras.Input((side, side, channels), batch_size=1)
    x = inputs
    for _ in range(blocks):
        y = keras.layers.Conv2D(4 * channels, 1, activation=activation)(x)
        x = keras.layers.Add()([x, keras.layers.Conv2D(channels, 1)(y)])
    return keras.Model(inputs, x), blocks * 2 * side * side * channels * 4 * channels


def matmul(size=1024):
    inputs = keras.Input((size, size), batch_size=1)
    return keras.Model(inputs, keras.layers.Dense(size, use_bias=False)(inputs)), size**3


def main(_):
    gemm = gemm_rate(threads=FLAGS.threads)["median_gflops"]
    cases = {"matmul 1024^3": matmul()}
    for name, side, channels in STAGES:
        for activation in (None, "gelu"):
            cases[f"MLP {name}, {activation or 'no'} activation"] = channel_mlp_stack(side, channels, activation)
    print(f"numpy float32 GEMM rate, {FLAGS.threads} threads: {gemm:.1f} GFLOP/s\n")
    print("| case | ms | GFLOP/s | fraction of GEMM |\n|---|---|---|---|")
    for name, (model, macs) in cases.items():
        result = benchmark_tflite(to_tflite(model), num_threads=FLAGS.threads, runs=FLAGS.runs)
        gflops = 2 * macs / (result["median_ms"] / 1e3) / 1e9
        print(f"| {name} | {result['median_ms']:.2f} | {gflops:.0f} | {gflops / gemm:.2f} |")


if __name__ == "__main__":
    app.run(main)
