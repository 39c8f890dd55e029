"""Benchmarks a list of `.tflite` files (what `tflite/benchmark.py` runs): latency, coverage, GPU check."""

import os

from keras_hire.benchmark.coverage import format_delegated, format_not_delegated, xnnpack_coverage
from keras_hire.benchmark.gpu_check import gpu_delegate_check, gpu_summary
from keras_hire.benchmark.timing import benchmark_tflite
from keras_hire.utils.markdown import markdown_table, megabytes


def benchmark_files(paths, threads=(1, 2), xnnpack_modes=(True, False), warmup=5, runs=30, gpu_check=False,
                    log=print):
    """Benchmarks every file at every thread count and XNNPACK mode; lists XNNPACK's misses.

    Returns rows of dicts: `file`, `size_bytes`, `num_threads`, `xnnpack`, `median_ms`, `p90_ms`,
    `not_delegated`, `delegated` (`"n/total"`), and with `gpu_check` the GPU delegate's rejections.
    """
    rows = []
    for path in paths:
        coverage = xnnpack_coverage(path)
        gpu = gpu_delegate_check(path) if gpu_check else None
        for xnnpack in xnnpack_modes:
            for count in threads:
                result = benchmark_tflite(path, num_threads=count, xnnpack=xnnpack, warmup=warmup, runs=runs)
                row = {"file": os.path.basename(path), "path": path, **result,
                       "not_delegated": format_not_delegated(coverage) if xnnpack else "(XNNPACK off)",
                       "delegated": format_delegated(coverage) if xnnpack else "-"}
                if gpu is not None:
                    row["gpu"] = gpu_summary(gpu)
                log(f"[keras_hire.benchmark] {row['file']} threads={count} xnnpack={xnnpack}: "
                    f"median {row['median_ms']:.2f} ms, p90 {row['p90_ms']:.2f} ms")
                rows.append(row)
    return rows


def benchmark_markdown(rows):
    """The rows of `benchmark_files` as a markdown table (a GPU column when they were checked)."""
    columns = [("file", "file"), ("size", lambda r: megabytes(r["size_bytes"])), ("threads", "num_threads"),
               ("XNNPACK", lambda r: "on" if r["xnnpack"] else "off"), ("median ms", "median_ms"),
               ("p90 ms", "p90_ms"), ("XNNPACK ops", "delegated"), ("not delegated", "not_delegated")]
    if any("gpu" in r for r in rows):
        columns.append(("GPU delegate", "gpu"))
    return markdown_table(rows, columns)
