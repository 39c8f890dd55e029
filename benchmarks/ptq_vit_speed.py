"""Speed of our int8 DeiT against float32, dynamic range and the converter's int8 (LiteRT, XNNPACK).

    python benchmarks/ptq_vit_speed.py --model=deit_small --image_size=224 --threads=1,2 --sweeps=5
    python benchmarks/ptq_vit_speed.py --model=deit_small --search_method=ptq_vit --calibration_images=100

The file's speed does not depend on the interval values, so by default the intervals come from the
cheap min-max method; `--search_method=ptq_vit` runs (and times) the paper's search instead. Weights
are random with trained-like normalisation layers (`perturb_normalization`). All runtimes are timed in
alternating sweeps and reported as medians with ratios to float32 taken within the same run.
Writes <output>.json and <output>.md.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", "deit_small", "A ViT-family registry name.")
flags.DEFINE_integer("image_size", 224, "Input size.")
flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
flags.DEFINE_integer("sweeps", 5, "Alternating timing sweeps.")
flags.DEFINE_integer("runs", 10, "Invokes per sample.")
flags.DEFINE_string("search_method", "minmax", "quantize_vit method for the intervals (ptq_vit times the search).")
flags.DEFINE_integer("calibration_images", 16, "Calibration images (random normal; speed only).")
flags.DEFINE_integer("grid_size", 100, "Search grid size (ptq_vit).")
flags.DEFINE_integer("objective_tokens", None, "Tokens per image the candidates are scored on (default: all).")
flags.DEFINE_string("output", "benchmarks/results/ptq_vit_speed", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def main(_):
    import time

    import numpy as np

    from keras_hire.benchmark.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.benchmark.machine import machine_description, machine_line
    from keras_hire.benchmark.sweeps import alternate, medians, progress
    from keras_hire.benchmark.timing import median_ms
    from keras_hire.benchmark.trained_like import perturb_normalization
    from keras_hire.export import make_interpreter, to_tflite
    from keras_hire.methods.quantization import export_int8, quantize_vit
    from keras_hire.models import create_model
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    size = FLAGS.image_size
    model = perturb_normalization(create_model(FLAGS.model, input_shape=(size, size, 3)))
    images = np.random.default_rng(0).standard_normal((FLAGS.calibration_images, size, size, 3)).astype("float32")
    started = time.time()
    result = quantize_vit(model, images, bits=8, method=FLAGS.search_method, grid_size=FLAGS.grid_size,
                          objective_tokens=FLAGS.objective_tokens, progress=progress)
    search_seconds = time.time() - started
    progress(f"{FLAGS.search_method} intervals for {FLAGS.model}@{size}: {search_seconds:.0f} s")
    files = {"ours int8": export_int8(result, images).flatbuffer, "float32": to_tflite(model, "float32"),
             "dynamic": to_tflite(model, "dynamic"),
             "converter int8": to_tflite(model, "int8", representative_data=[images])}
    coverage = {name: format_not_delegated(xnnpack_coverage(f)) for name, f in files.items()}
    measures = {}
    for threads in map(int, FLAGS.threads):
        for name, flatbuffer in files.items():
            interpreter = make_interpreter(flatbuffer, num_threads=threads)
            measures[(name, threads)] = lambda i=interpreter: median_ms(i, runs=FLAGS.runs)
    samples = alternate(measures, FLAGS.sweeps, lambda s, _: progress(f"sweep {s + 1}/{FLAGS.sweeps} done"))
    latency = medians(samples)
    rows = [dict(file=name, threads=threads, ms=ms, speedup=latency[("float32", threads)] / ms,
                 size_mb=len(files[name]) / 1e6, not_delegated=coverage[name])
            for (name, threads), ms in latency.items()]
    lines = [f"{FLAGS.model}@{size}, LiteRT + XNNPACK, median of {FLAGS.sweeps} alternating sweeps; "
             f"intervals: {FLAGS.search_method} ({FLAGS.calibration_images} images, {search_seconds:.0f} s)",
             machine_line(), "",
             "| file | threads | ms | x float32 | MB | XNNPACK misses |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['threads']} | {r['ms']:.1f} | {r['speedup']:.2f} | {r['size_mb']:.1f} | "
              f"{r['not_delegated']} |" for r in rows]
    atomic_write_json(FLAGS.output + ".json", dict(rows=rows, search_seconds=search_seconds,
                                                   search_method=FLAGS.search_method,
                                                   machine=machine_description()))
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
