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


def benchmark_files(paths, threads=(1, 2), xnnpack_modes=(True, False), warmup=5, runs=30, gpu_check=False,
                    log=print):
    """Benchmarks every file at every thread count and XNNPACK mode; lists XNNPACK's misses.

    Returns rows of dicts: `file`, `size_bytes`, `num_threads`, `xnnpack`, `median_ms`, `p90_ms`,
    `not_delegated`, `delegated` (`"n/total"`), and with `gpu_check` the GPU delegate's rejections.
    """
    from keras_hire.export.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.export.gpu_check import gpu_delegate_check

    rows = []
    for path in paths:
        coverage = xnnpack_coverage(path)
        gpu = gpu_delegate_check(path) if gpu_check else None
        for xnnpack in xnnpack_modes:
            for count in threads:
                result = benchmark_tflite(path, num_threads=count, xnnpack=xnnpack, warmup=warmup, runs=runs)
                row = {"file": os.path.basename(path), "path": path, **result,
                       "not_delegated": format_not_delegated(coverage) if xnnpack else "(XNNPACK off)",
                       "delegated": f"{coverage['delegated_count']}/{coverage['total']}" if xnnpack else "-"}
                if gpu is not None:
                    row["gpu"] = _gpu_summary(gpu)
                log(f"[keras_hire.export] {row['file']} threads={count} xnnpack={xnnpack}: "
                    f"median {row['median_ms']:.2f} ms, p90 {row['p90_ms']:.2f} ms")
                rows.append(row)
    return rows


def benchmark_markdown(rows):
    from keras_hire.export.report import markdown_table, megabytes

    columns = [("file", "file"), ("size", lambda r: megabytes(r["size_bytes"])), ("threads", "num_threads"),
               ("XNNPACK", lambda r: "on" if r["xnnpack"] else "off"), ("median ms", "median_ms"),
               ("p90 ms", "p90_ms"), ("XNNPACK ops", "delegated"), ("not delegated", "not_delegated")]
    if any("gpu" in r for r in rows):
        columns.append(("GPU delegate", "gpu"))
    return markdown_table(rows, columns)


def _gpu_summary(gpu):
    if not gpu["available"]:
        return "no Vulkan device (run tflite/install_gpu_check.sh)"
    if gpu.get("runtime_errors"):
        return f"ops accepted, but {len(gpu['runtime_errors'])} kernel error(s) on the device: {gpu['runtime_errors'][0][:80]}"
    if gpu["fully_accelerated"]:
        return "fully accelerated"
    return "; ".join(f"{op}: {reason}" for op, reason in gpu["rejected"].items()) or "partly accelerated"
