"""Latency of a TFLite file in the LiteRT interpreter: warm-up, then N timed invokes."""

import os
import time

import numpy as np

from keras_hire.export.interpreter import make_interpreter


def benchmark_tflite(model, num_threads=1, xnnpack=True, warmup=5, runs=30, min_seconds=0.0):
    """Median and p90 latency (ms) of one invoke, plus file size.

    Args:
        model: flatbuffer bytes or a `.tflite` path.
        num_threads: interpreter threads.
        xnnpack: with the default XNNPACK delegate, or LiteRT's builtin kernels only.
        warmup: untimed invokes first (XNNPACK packs weights lazily on the first runs).
        runs: timed invokes (more are run until `min_seconds` have passed).
    """
    interpreter = make_interpreter(model, num_threads=num_threads, xnnpack=xnnpack)
    times = time_interpreter(interpreter, warmup, runs, min_seconds)
    size = len(model) if isinstance(model, (bytes, bytearray)) else os.path.getsize(model)
    return {
        "num_threads": num_threads,
        "xnnpack": xnnpack,
        "runs": len(times),
        "median_ms": float(np.median(times)),
        "p90_ms": float(np.percentile(times, 90)),
        "min_ms": float(np.min(times)),
        "size_bytes": int(size),
    }


def time_interpreter(interpreter, warmup=5, runs=30, min_seconds=0.0):
    """Milliseconds of each of `runs` timed invokes of an allocated interpreter on fixed random input."""
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        data = rng.integers(-128, 127, size=detail["shape"]).astype(detail["dtype"])
    else:
        data = rng.standard_normal(detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], data)
    for _ in range(warmup):
        interpreter.invoke()
    times, started = [], time.perf_counter()
    while len(times) < runs or time.perf_counter() - started < min_seconds:
        begin = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - begin) * 1e3)
    return times


def median_ms(interpreter, warmup=3, runs=20):
    """Median milliseconds of `runs` invokes: one sample of an alternating sweep."""
    return float(np.median(time_interpreter(interpreter, warmup=warmup, runs=runs)))
