"""A model's speed on this CPU against the machine's float32 GEMM rate, in one run (benchmarks/speed.py).

For one registered model (random weights, trained-like norm values): batch-1 TFLite float32,
dynamic-range int8 and full int8 files (and any peer files) at 1 and 2 XNNPACK threads, Keras
with XLA, and the numpy GEMM rate at 1 and 2 threads, all timed alternately over sweeps.
Achieved GFLOP/s = 2 x MACs / latency, as a fraction of the GEMM rate of the same sweep.
"""

import functools

import numpy as np

from keras_hire.benchmark.coverage import format_delegated, format_not_delegated, xnnpack_coverage
from keras_hire.benchmark.entries import benchmark_model
from keras_hire.benchmark.gemm import achieved_gflops, gemm_rate, gemm_sample
from keras_hire.benchmark.keras_latency import keras_xla_latency
from keras_hire.benchmark.sweeps import alternate, medians, progress
from keras_hire.benchmark.timing import median_ms
from keras_hire.export.interpreter import make_interpreter
from keras_hire.export.tflite import to_tflite
from keras_hire.utils.macs import count_macs
from keras_hire.utils.markdown import markdown_table

THREADS = (1, 2)
SPEED_COLUMNS = [("model", "model"), ("runtime", "runtime"), ("threads", "threads"), ("median ms", "ms"),
                 ("best ms", "best_ms"), ("GFLOP/s", "gflops"), ("GEMM GFLOP/s", "gemm_gflops"),
                 ("fraction of GEMM", "fraction_of_gemm"), ("best fraction", "best_fraction_of_gemm"),
                 ("size MB", "size_mb"), ("XNNPACK ops", "xnnpack"), ("not delegated", "not_delegated")]


def model_files(model, calibration=16):
    """`{"float32", "dynamic", "int8": flatbuffer}`; int8 calibrated on `calibration` random images (speed only)."""
    size = tuple(model.inputs[0].shape[1:])
    images = np.random.default_rng(0).standard_normal((calibration,) + size).astype(np.float32)
    return {"float32": to_tflite(model, "float32"), "dynamic": to_tflite(model, "dynamic"),
            "int8": to_tflite(model, "int8", representative_data=[images])}


def measure_model(name, size, sweeps=5, runs=15, calibration=16, peers=None, log=progress):
    """Every figure of one model: rows per runtime and thread count, GEMM rates, coverage, ratios.

    Args:
        name, size: a registry name and an input size.
        sweeps: alternating sweeps; figures are medians of the sweep medians.
        runs: timed invokes per runtime per sweep.
        calibration: random calibration images of the int8 file.
        peers: optional `{label: path}` of peer files of this model and size, timed in the same sweeps.
    """
    model = benchmark_model(name, size)
    macs = count_macs(model)
    log(f"[speed] {name}@{size}: {macs / 1e9:.3f} GMACs; converting ...")
    files = model_files(model, calibration)
    ours = list(files)
    for label, path in (peers or {}).items():
        with open(path, "rb") as handle:
            files[label] = handle.read()
    coverage = {key: xnnpack_coverage(flatbuffer) for key, flatbuffer in files.items()}
    interpreters = {(key, threads): make_interpreter(flatbuffer, num_threads=threads)
                    for key, flatbuffer in files.items() for threads in THREADS}
    measures = {f"gemm_{threads}": functools.partial(gemm_sample, threads) for threads in THREADS}
    measures.update({key: functools.partial(median_ms, interpreter, 3, runs)
                     for key, interpreter in interpreters.items()})
    measures["keras_xla"] = lambda: float(np.median(keras_xla_latency(model, runs=runs)))

    def report_sweep(sweep, samples):
        log(f"[speed]   sweep {sweep + 1}/{sweeps}: float32 2 threads {samples[('float32', 2)][-1]:.1f} ms, "
            f"GEMM 2 threads {samples['gemm_2'][-1]:.0f} GFLOP/s")

    samples = alternate(measures, sweeps, report_sweep)
    median = medians(samples)
    rows = []
    for key, threads in interpreters:
        runtime = f"TFLite {key} (XNNPACK)" if key in ours else f"peer: {key} (XNNPACK)"
        rows.append(speed_row(name, size, macs, runtime, threads, samples[(key, threads)],
                              samples[f"gemm_{threads}"], coverage[key], len(files[key])))
    rows.append(speed_row(name, size, macs, "Keras + XLA (jit_compile)", 2, samples["keras_xla"], samples["gemm_2"]))
    blas = gemm_rate(1, repeats=1)
    return {"model": name, "size": size, "macs": macs, "rows": rows,
            "gemm_gflops": {"1": median["gemm_1"], "2": median["gemm_2"]},
            "blas": blas["blas"], "unset_env": blas["unset_env"], "samples": {str(k): v for k, v in samples.items()},
            "coverage": {key: value["not_delegated_nodes"] for key, value in coverage.items()},
            "speedup_2_threads": {key: median[("float32", 2)] / median[(key, 2)] for key in ("dynamic", "int8")},
            "peer_ms_over_ours_2_threads": {key: {q: median[(key, 2)] / median[(q, 2)] for q in ours}
                                            for key in files if key not in ours}}


def speed_row(name, size, macs, runtime, threads, ms_samples, gemm_samples, coverage=None, size_bytes=None):
    """Figures of one runtime. `fraction` is the median over sweeps of (achieved / GEMM rate of the
    same sweep); `best fraction` pairs the fastest sweep with the best GEMM rate (an unloaded machine)."""
    achieved = [achieved_gflops(macs, ms) for ms in ms_samples]
    fractions = [a / g for a, g in zip(achieved, gemm_samples)]
    ms = float(np.median(ms_samples))
    return {"model": f"{name} @{size}", "runtime": runtime, "threads": threads, "ms": round(ms, 2),
            "best_ms": round(float(np.min(ms_samples)), 2), "gflops": round(achieved_gflops(macs, ms), 1),
            "gemm_gflops": round(float(np.median(gemm_samples)), 1),
            "fraction_of_gemm": round(float(np.median(fractions)), 3),
            "best_fraction_of_gemm": round(max(achieved) / max(gemm_samples), 3),
            "size_mb": round(size_bytes / 1e6, 2) if size_bytes else None,
            "xnnpack": format_delegated(coverage) if coverage else "-",
            "not_delegated": format_not_delegated(coverage) if coverage else "-"}


def speed_markdown(results):
    """The rows of several `measure_model` results as one markdown table."""
    return markdown_table([row for result in results for row in result["rows"]], SPEED_COLUMNS)


def speed_summary(result):
    """Lines under the table: quantized speed-ups, the BLAS that ran, and peer / ours ratios."""
    speedup = result["speedup_2_threads"]
    lines = [f"{result['model']}: speed-up over float32 at 2 threads: dynamic-range int8 {speedup['dynamic']:.2f}x, "
             f"full int8 {speedup['int8']:.2f}x; BLAS {result['blas']}; unset {result['unset_env'] or 'nothing'}"]
    for peer, ratios in result["peer_ms_over_ours_2_threads"].items():
        lines.append(f"  peer {peer}: its latency / ours at 2 threads: "
                     + ", ".join(f"{ratio:.2f} (ours {key})" for key, ratio in ratios.items()))
    return "\n".join(lines)
