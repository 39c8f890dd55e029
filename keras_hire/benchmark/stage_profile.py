"""Where a backbone's TFLite time goes, stage by stage, against the machine's GEMM rate.

The LiteRT Python interpreter has no op profiler, so `profile_stages` converts the backbone cut
after each stage (`model.pyramid_outputs`), times every prefix in alternating sweeps and
differences the times: per-stage latency, MACs and achieved fraction of the GEMM rate. The head
(norm, pool, classifier) is the last row.
"""

import functools

from keras_hire.benchmark.coverage import xnnpack_coverage
from keras_hire.benchmark.gemm import achieved_gflops, gemm_sample
from keras_hire.benchmark.stages import stage_prefixes
from keras_hire.benchmark.sweeps import alternate, medians, progress
from keras_hire.benchmark.timing import median_ms
from keras_hire.export.interpreter import make_interpreter
from keras_hire.export.tflite import to_tflite
from keras_hire.utils.macs import count_macs


def profile_stages(model, threads=2, runs=20, sweeps=3, log=progress):
    """`{"rows": [per stage: part, ms, share, GMACs, GFLOP/s, fraction, ops], "gemm_gflops", "total_ms"}`.

    Args:
        model: a backbone with `pyramid_outputs` (e.g. with trained-like norm values, see
            `keras_hire.benchmark.perturb_normalization`).
        threads: interpreter and BLAS threads.
        runs: timed invokes per prefix per sweep.
        sweeps: alternating sweeps (GEMM rate, then every prefix).
    """
    prefixes = stage_prefixes(model)
    interpreters, macs, ops = [], [], []
    for name, prefix in prefixes:
        flatbuffer = to_tflite(prefix)
        interpreters.append(make_interpreter(flatbuffer, num_threads=threads))
        macs.append(count_macs(prefix))
        ops.append(xnnpack_coverage(flatbuffer)["total"])
        log(f"[profile] converted up to {name}")
    measures = {"gemm": functools.partial(gemm_sample, threads)}
    measures.update({index: functools.partial(median_ms, interpreter, 3, runs)
                     for index, interpreter in enumerate(interpreters)})
    median = medians(alternate(measures, sweeps))
    cumulative = [median[index] for index in range(len(interpreters))]
    rate = median["gemm"]
    rows, previous_ms, previous_macs, previous_ops = [], 0.0, 0, 0
    for (name, _), ms, mac, total_ops in zip(prefixes, cumulative, macs, ops):
        stage_ms, stage_macs = ms - previous_ms, mac - previous_macs
        achieved = achieved_gflops(stage_macs, stage_ms) if stage_ms > 0 else float("nan")
        rows.append({"part": name, "ms": round(stage_ms, 2), "share": f"{100 * stage_ms / cumulative[-1]:.0f}%",
                     "GMACs": round(stage_macs / 1e9, 3), "GFLOP/s": round(achieved, 1),
                     "fraction": round(achieved / rate, 3), "ops": total_ops - previous_ops})
        previous_ms, previous_macs, previous_ops = ms, mac, total_ops
    return {"rows": rows, "gemm_gflops": rate, "total_ms": cumulative[-1]}
