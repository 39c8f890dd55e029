"""Where a backbone's TFLite time goes, stage by stage, against the machine's GEMM rate.

    python benchmarks/stage_profile.py --model=hire_mlp_small --size=224 --threads=2

The LiteRT Python interpreter has no op profiler, so this converts the backbone cut after each
stage (`model.pyramid_outputs`), times each prefix, and differences the times: per-stage latency,
MACs and achieved fraction of the GEMM rate. The head (norm, pool, classifier) is the last row.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hire_mlp_small", "Registry name of a model with pyramid_outputs.")
flags.DEFINE_integer("size", 224, "Input size.")
flags.DEFINE_integer("threads", 2, "Interpreter threads.")
flags.DEFINE_integer("runs", 20, "Timed invokes per prefix per sweep.")
flags.DEFINE_integer("sweeps", 3, "Alternating sweeps.")


def main(argv):
    del argv
    import numpy as np

    from keras_hire.export import (gemm_rate, make_interpreter, markdown_table, time_interpreter, to_tflite,
                                   xnnpack_coverage)
    from keras_hire.models import create_model
    from keras_hire.utils import count_macs
    from stages import stage_prefixes
    from trained_like import perturb_normalization

    model = perturb_normalization(create_model(FLAGS.model, input_shape=(FLAGS.size, FLAGS.size, 3)))
    prefixes = stage_prefixes(model)
    interpreters, macs, ops = [], [], []
    for name, prefix in prefixes:
        flatbuffer = to_tflite(prefix)
        interpreters.append(make_interpreter(flatbuffer, num_threads=FLAGS.threads))
        macs.append(count_macs(prefix))
        ops.append(xnnpack_coverage(flatbuffer))
        print(f"[profile] converted up to {name}", flush=True)
    samples = [[] for _ in prefixes]
    gemm = []
    for _ in range(FLAGS.sweeps):
        gemm.append(gemm_rate(FLAGS.threads, repeats=5)["median_gflops"])
        for index, interpreter in enumerate(interpreters):
            samples[index].append(float(np.median(time_interpreter(interpreter, warmup=3, runs=FLAGS.runs))))
    cumulative = [float(np.median(s)) for s in samples]
    rate = float(np.median(gemm))
    rows, previous_ms, previous_macs, previous_ops = [], 0.0, 0, 0
    for (name, _), ms, mac, coverage in zip(prefixes, cumulative, macs, ops):
        stage_ms, stage_macs = ms - previous_ms, mac - previous_macs
        achieved = 2 * stage_macs / (stage_ms / 1e3) / 1e9 if stage_ms > 0 else float("nan")
        rows.append({"part": name, "ms": round(stage_ms, 2), "share": f"{100 * stage_ms / cumulative[-1]:.0f}%",
                     "GMACs": round(stage_macs / 1e9, 3), "GFLOP/s": round(achieved, 1),
                     "fraction": round(achieved / rate, 3), "ops": coverage["total"] - previous_ops})
        previous_ms, previous_macs, previous_ops = ms, mac, coverage["total"]
    print(f"{FLAGS.model} @{FLAGS.size}, {FLAGS.threads} threads, GEMM {rate:.0f} GFLOP/s, total {cumulative[-1]:.1f} ms")
    print(markdown_table(rows, [(k, k) for k in rows[0]]))


if __name__ == "__main__":
    app.run(main)
