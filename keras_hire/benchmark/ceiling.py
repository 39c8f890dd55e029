"""How close XNNPACK's float32 kernels get to the machine's GEMM rate on a model's stage shapes.

Times batch-1 TFLite files of one 1024^3 matrix product and, at each stage's output shape of
the model (`pyramid_outputs`), a stack of six channel MLPs (1x1 conv C->eC, optional GELU, 1x1
conv eC->C, residual): the cheapest thing a block of that width can be. Each is a fraction of
the numpy 2048^3 GEMM rate at the same thread count (measured first, in a child process, so
OpenBLAS threads do not compete). Weighting the GELU stacks' fractions by each stage's share of
the model's MACs bounds what a model built from these GEMMs can reach on this CPU with XNNPACK.
"""

import keras

from keras_hire.benchmark.gemm import achieved_gflops, gemm_rate
from keras_hire.benchmark.stages import stage_shapes_and_macs
from keras_hire.benchmark.sweeps import progress
from keras_hire.benchmark.timing import benchmark_tflite
from keras_hire.export.tflite import to_tflite


def channel_mlp_stack(height, width, channels, expansion, activation, blocks=6):
    """`(model, MACs)`: `blocks` residual channel MLPs C -> expansion * C -> C at one feature-map shape."""
    hidden = int(channels * expansion)
    inputs = keras.Input((height, width, channels), batch_size=1)
    x = inputs
    for _ in range(blocks):
        y = keras.layers.Conv2D(hidden, 1, activation=activation)(x)
        x = keras.layers.Add()([x, keras.layers.Conv2D(channels, 1)(y)])
    return keras.Model(inputs, x), blocks * 2 * height * width * channels * hidden


def matmul(size=1024):
    """`(model, MACs)`: one `size`^3 matrix product, the best case for XNNPACK's GEMM kernels."""
    inputs = keras.Input((size, size), batch_size=1)
    return keras.Model(inputs, keras.layers.Dense(size, use_bias=False)(inputs)), size**3


def gemm_ceiling(model, expansion=4.0, threads=2, runs=20, log=progress):
    """`{"gemm_gflops", "rows": [{case, ms, gflops, fraction}], "mac_shares": {stage: share}, "ceiling"}`.

    Args:
        model: a backbone with `pyramid_outputs`; only its stage shapes and MACs are used.
        expansion: hidden width of the channel MLPs, as a multiple of C.
        threads: interpreter and BLAS threads.
        runs: timed invokes per case.
    """
    gemm = gemm_rate(threads=threads)["median_gflops"]
    stages = stage_shapes_and_macs(model)
    cases = {"matmul 1024^3": matmul()}
    for stage, shape, _ in stages:
        for activation in (None, "gelu"):
            cases[_label(stage, shape, activation)] = channel_mlp_stack(*shape, expansion, activation)
    rows, fractions = [], {}
    for name, (case, macs) in cases.items():
        milliseconds = benchmark_tflite(to_tflite(case), num_threads=threads, runs=runs)["median_ms"]
        gflops = achieved_gflops(macs, milliseconds)
        fractions[name] = gflops / gemm
        rows.append({"case": name, "ms": milliseconds, "gflops": gflops, "fraction": gflops / gemm})
        log(f"[gemm_ceiling] {name}: {milliseconds:.2f} ms, {gflops / gemm:.2f} of the GEMM rate")
    total = sum(macs for _, _, macs in stages)
    time_share = sum(macs / total / fractions[_label(stage, shape, "gelu")] for stage, shape, macs in stages)
    return {"gemm_gflops": gemm, "rows": rows, "mac_shares": {stage: macs / total for stage, _, macs in stages},
            "ceiling": 1 / time_share}


def _label(stage, shape, activation):
    height, width, channels = shape
    return f"MLP {stage} {height}x{width}x{channels}, {activation or 'no'} activation"
