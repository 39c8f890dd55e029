"""How close XNNPACK's float32 kernels get to the machine's GEMM rate on a model's stage shapes.

    python benchmarks/gemm_ceiling.py                                   # HireMLP-Small at 224
    python benchmarks/gemm_ceiling.py --model=cmt_tiny --size=160 --expansion=3.6
    python benchmarks/gemm_ceiling.py --model=cmt_small --size=224

Times, in one process and alternately, batch-1 TFLite files of: one 1024^3 matrix product; and,
at each stage's output shape of the model (`pyramid_outputs`), a stack of six channel MLPs (1x1
conv C->eC, optional GELU, 1x1 conv eC->C, residual): the cheapest thing a block of that width can
be. Each is reported as a fraction of the numpy 2048^3 GEMM rate at the same thread count
(measured in a child process first, so OpenBLAS threads do not compete). The last line weights
the GELU stacks' fractions by each stage's share of the model's MACs: a bound on what a model
built from these GEMMs can reach on this CPU with XNNPACK.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import keras  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_hire.export import benchmark_tflite, gemm_rate, to_tflite  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hire_mlp_small", "Registry name of a model with pyramid_outputs.")
flags.DEFINE_integer("size", 224, "Input size.")
flags.DEFINE_float("expansion", 4.0, "Hidden width of the channel MLPs, as a multiple of C.")
flags.DEFINE_integer("threads", 2, "Interpreter and BLAS threads.")
flags.DEFINE_integer("runs", 20, "Timed invokes per case.")


def channel_mlp_stack(height, width, channels, expansion, activation, blocks=6):
    hidden = int(channels * expansion)
    inputs = keras.Input((height, width, channels), batch_size=1)
    x = inputs
    for _ in range(blocks):
        y = keras.layers.Conv2D(hidden, 1, activation=activation)(x)
        x = keras.layers.Add()([x, keras.layers.Conv2D(channels, 1)(y)])
    return keras.Model(inputs, x), blocks * 2 * height * width * channels * hidden


def matmul(size=1024):
    inputs = keras.Input((size, size), batch_size=1)
    return keras.Model(inputs, keras.layers.Dense(size, use_bias=False)(inputs)), size**3


def stage_shapes_and_macs(name, size):
    """`[(stage, (H, W, C), MACs of the stage)]`, the head's MACs counted with the last stage."""
    from keras_hire.models import create_model
    from keras_hire.utils import count_macs
    from stages import stage_prefixes

    prefixes = stage_prefixes(create_model(name, input_shape=(size, size, 3)))
    cumulative = [count_macs(prefix) for _, prefix in prefixes]
    cumulative[-1] = cumulative.pop()  # the head's MACs join the last stage
    return [(stage, tuple(prefix.output.shape[1:]), macs - previous)
            for (stage, prefix), macs, previous in zip(prefixes, cumulative, [0] + cumulative[:-1])]


def main(_):
    gemm = gemm_rate(threads=FLAGS.threads)["median_gflops"]
    stages = stage_shapes_and_macs(FLAGS.model, FLAGS.size)
    cases = {"matmul 1024^3": matmul()}
    for stage, (height, width, channels), _ in stages:
        for activation in (None, "gelu"):
            label = f"MLP {stage} {height}x{width}x{channels}, {activation or 'no'} activation"
            cases[label] = channel_mlp_stack(height, width, channels, FLAGS.expansion, activation)
    print(f"{FLAGS.model} @{FLAGS.size}, MLP expansion {FLAGS.expansion}; numpy float32 GEMM rate, "
          f"{FLAGS.threads} threads: {gemm:.1f} GFLOP/s\n")
    print("| case | ms | GFLOP/s | fraction of GEMM |\n|---|---|---|---|")
    fractions = {}
    for name, (model, macs) in cases.items():
        result = benchmark_tflite(to_tflite(model), num_threads=FLAGS.threads, runs=FLAGS.runs)
        gflops = 2 * macs / (result["median_ms"] / 1e3) / 1e9
        fractions[name] = gflops / gemm
        print(f"| {name} | {result['median_ms']:.2f} | {gflops:.0f} | {gflops / gemm:.2f} |", flush=True)
    total = sum(macs for _, _, macs in stages)
    time_share = sum(macs / total / fractions[f"MLP {stage} {h}x{w}x{c}, gelu activation"]
                     for stage, (h, w, c), macs in stages)
    shares = ", ".join(f"{stage} {100 * macs / total:.0f}%" for stage, _, macs in stages)
    print(f"\nMAC shares: {shares}. MAC-weighted ceiling (GELU stacks): {1 / time_share:.2f} of the GEMM rate.")


if __name__ == "__main__":
    app.run(main)
