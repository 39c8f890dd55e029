"""Speed of keras_hire models on this CPU, against the machine's float32 GEMM rate, in one run.

    python benchmarks/speed.py                       # Hire-MLP-S, CMT-Ti, CMT-S, DeiT-S, Aug-ViT-S
    python benchmarks/speed.py --models=hire_mlp_small:224,cmt_small:224

For each model (random weights, with trained-like normalisation values: see trained_like.py):
batch-1 TFLite float32, dynamic-range int8 (int8 weights, activations quantized on the fly) and
full int8 at 1 and 2 threads (XNNPACK), Keras with XLA, and the numpy 2048^3 float32 GEMM rate at 1 and 2
threads, all timed alternately over --sweeps sweeps (figures are medians of the sweep medians,
so that a noisy neighbour hits every runtime alike). Achieved GFLOP/s = 2 x MACs / latency,
reported as a fraction of the GEMM rate at the same thread count measured in the same sweep
(median over sweeps), and as a best case (fastest sweep over best GEMM rate). For int8 files the
fraction compares against the float32 GEMM rate, so it can exceed 1. Also lists every op XNNPACK did
not take. Writes --output_json and prints a markdown table for benchmarks/README.md.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

# One entry per model: "<registry name>:<input size>". Add a family with one more entry.
DEFAULT_MODELS = [
    "hire_mlp_small:224",
    "cmt_tiny:160",
    "cmt_small:224",
    "deit_small:224",
    "aug_vit_small:224",
]

FLAGS = flags.FLAGS
flags.DEFINE_list("models", DEFAULT_MODELS, "registry_name:input_size entries.")
flags.DEFINE_integer("sweeps", 5, "Alternating measurement sweeps.")
flags.DEFINE_integer("runs", 15, "Timed invokes per runtime per sweep.")
flags.DEFINE_integer("calibration", 16, "Random calibration images for the int8 file (speed only).")
flags.DEFINE_string("output_json", "benchmarks/results.json", "Where to write all figures.")
flags.DEFINE_string("peers", "benchmarks/peers/files/manifest.json",
                    "Manifest of peer TFLite files (made by benchmarks/peers/); those of a measured model and "
                    "size are timed in the same sweeps. Skipped, with a note, when the file does not exist.")


def load_peers(manifest_path):
    """Peer files by (model, size): `{(model, size): {label: path}}`; empty without a manifest."""
    import json

    if not manifest_path or not os.path.exists(manifest_path):
        print(f"[speed] no peer manifest at {manifest_path!r}: timing keras_hire files only "
              "(see benchmarks/peers/README.md)", flush=True)
        return {}
    peers = {}
    with open(manifest_path) as handle:
        for entry in json.load(handle):
            path = os.path.join(os.path.dirname(manifest_path), entry["path"])
            label = f"{entry['runtime']}, {entry['quantization']}"
            if not os.path.exists(path):
                print(f"[speed] {manifest_path} lists {path}, which does not exist: skipped "
                      "(run the exporter again, see benchmarks/peers/README.md)", flush=True)
                continue
            peers.setdefault((entry["model"], int(entry["size"])), {})[label] = path
    return peers


def measure_model(name, size, sweeps, runs, calibration, peers=None):
    """Every figure of one model; see the module docstring."""
    import numpy as np

    from keras_hire.export import (gemm_rate, keras_xla_latency, make_interpreter, time_interpreter, to_tflite,
                                   xnnpack_coverage)
    from keras_hire.models import create_model
    from keras_hire.utils import count_macs
    from trained_like import perturb_normalization

    model = perturb_normalization(create_model(name, input_shape=(size, size, 3)))
    macs = count_macs(model)
    print(f"[speed] {name}@{size}: {macs / 1e9:.3f} GMACs; converting ...", flush=True)
    files = {"float32": to_tflite(model, "float32"), "dynamic": to_tflite(model, "dynamic")}
    images = np.random.default_rng(0).standard_normal((calibration, size, size, 3)).astype(np.float32)
    files["int8"] = to_tflite(model, "int8", representative_data=[images])
    ours = list(files)
    for label, path in (peers or {}).items():
        with open(path, "rb") as handle:
            files[label] = handle.read()
    coverage = {key: xnnpack_coverage(flatbuffer) for key, flatbuffer in files.items()}
    interpreters = {(key, threads): make_interpreter(flatbuffer, num_threads=threads)
                    for key, flatbuffer in files.items() for threads in (1, 2)}
    samples = {key: [] for key in list(interpreters) + ["keras_xla", "gemm_1", "gemm_2"]}
    for sweep in range(sweeps):
        for threads in (1, 2):
            samples[f"gemm_{threads}"].append(gemm_rate(threads, repeats=5)["median_gflops"])
        for key, interpreter in interpreters.items():
            samples[key].append(float(np.median(time_interpreter(interpreter, warmup=3, runs=runs))))
        samples["keras_xla"].append(float(np.median(keras_xla_latency(model, runs=runs))))
        print(f"[speed]   sweep {sweep + 1}/{sweeps}: float32 2 threads {samples[('float32', 2)][-1]:.1f} ms, "
              f"GEMM 2 threads {samples['gemm_2'][-1]:.0f} GFLOP/s", flush=True)
    median = {key: float(np.median(values)) for key, values in samples.items()}
    rows = []
    for key, threads in interpreters:
        runtime = f"TFLite {key} (XNNPACK)" if key in ours else f"peer: {key} (XNNPACK)"
        rows.append(_row(name, size, macs, runtime, threads, samples[(key, threads)],
                         samples[f"gemm_{threads}"], coverage[key], len(files[key])))
    rows.append(_row(name, size, macs, "Keras + XLA (jit_compile)", 2, samples["keras_xla"], samples["gemm_2"]))
    blas = gemm_rate(1, repeats=1)
    return {"model": name, "size": size, "macs": macs, "rows": rows,
            "gemm_gflops": {"1": median["gemm_1"], "2": median["gemm_2"]},
            "blas": blas["blas"], "unset_env": blas["unset_env"], "samples": {str(k): v for k, v in samples.items()},
            "coverage": {key: value["not_delegated_nodes"] for key, value in coverage.items()},
            "speedup_2_threads": {key: median[("float32", 2)] / median[(key, 2)] for key in ("dynamic", "int8")},
            "peer_ms_over_ours_2_threads": {key: {q: median[(key, 2)] / median[(q, 2)] for q in ours}
                                            for key in files if key not in ours}}


def _row(name, size, macs, runtime, threads, ms_samples, gemm_samples, coverage=None, size_bytes=None):
    """Figures of one runtime. `fraction` is the median over sweeps of (achieved / GEMM rate of the
    same sweep); `best fraction` pairs the fastest sweep with the best GEMM rate (an unloaded machine)."""
    import numpy as np

    from keras_hire.export import format_not_delegated

    achieved = [2 * macs / (ms / 1e3) / 1e9 for ms in ms_samples]
    fractions = [a / g for a, g in zip(achieved, gemm_samples)]
    ms = float(np.median(ms_samples))
    return {"model": f"{name} @{size}", "runtime": runtime, "threads": threads, "ms": round(ms, 2),
            "best_ms": round(float(np.min(ms_samples)), 2), "gflops": round(2 * macs / (ms / 1e3) / 1e9, 1),
            "gemm_gflops": round(float(np.median(gemm_samples)), 1),
            "fraction_of_gemm": round(float(np.median(fractions)), 3),
            "best_fraction_of_gemm": round(max(achieved) / max(gemm_samples), 3),
            "size_mb": round(size_bytes / 1e6, 2) if size_bytes else None,
            "xnnpack": f"{coverage['delegated_count']}/{coverage['total']}" if coverage else "-",
            "not_delegated": format_not_delegated(coverage) if coverage else "-"}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_hire.export import atomic_write_json, markdown_table

    results, peers = [], load_peers(FLAGS.peers)
    for entry in FLAGS.models:
        name, _, size = entry.partition(":")
        size = int(size or 224)
        results.append(measure_model(name, size, FLAGS.sweeps, FLAGS.runs, FLAGS.calibration,
                                     peers.get((name, size))))
        atomic_write_json(FLAGS.output_json, results)
    columns = [("model", "model"), ("runtime", "runtime"), ("threads", "threads"), ("median ms", "ms"),
               ("best ms", "best_ms"), ("GFLOP/s", "gflops"), ("GEMM GFLOP/s", "gemm_gflops"),
               ("fraction of GEMM", "fraction_of_gemm"), ("best fraction", "best_fraction_of_gemm"),
               ("size MB", "size_mb"), ("XNNPACK ops", "xnnpack"), ("not delegated", "not_delegated")]
    print(markdown_table([row for result in results for row in result["rows"]], columns))
    for result in results:
        speedup = result["speedup_2_threads"]
        print(f"{result['model']}: speed-up over float32 at 2 threads: dynamic-range int8 {speedup['dynamic']:.2f}x, "
              f"full int8 {speedup['int8']:.2f}x; "
              f"BLAS {result['blas']}; unset {result['unset_env'] or 'nothing'}")
        for peer, ratios in result["peer_ms_over_ours_2_threads"].items():
            print(f"  peer {peer}: its latency / ours at 2 threads: "
                  + ", ".join(f"{ratio:.2f} (ours {key})" for key, ratio in ratios.items()))


if __name__ == "__main__":
    app.run(main)
