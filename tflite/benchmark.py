"""Benchmarks .tflite files in the LiteRT interpreter (ai_edge_litert) and lists XNNPACK's misses.

    python tflite/benchmark.py --models=runs/mnist/tflite/hire_mlp_tiny.float32.tflite --num_threads=1,2

For each file, thread count and XNNPACK on/off: warm-up, then --runs invokes; median and p90
latency, file size, and every op XNNPACK did not take. --gpu_check also lists the ops LiteRT's GPU
delegate rejects, on a software Vulkan device (install it once with tflite/install_gpu_check.sh).
Writes --output_json and --output_md. The logic is keras_hire.export.benchmark_files.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Comma-separated .tflite files.", required=True)
flags.DEFINE_list("num_threads", ["1", "2"], "Thread counts.")
flags.DEFINE_enum("xnnpack", "both", ["both", "on", "off"], "Run with XNNPACK, without it, or both.")
flags.DEFINE_integer("warmup", 5, "Untimed invokes before timing.")
flags.DEFINE_integer("runs", 30, "Timed invokes.")
flags.DEFINE_bool("gpu_check", False, "Also list the ops the LiteRT GPU delegate rejects (needs Mesa 25 lavapipe).")
flags.DEFINE_string("output_json", None, "JSON report path (default: beside the first model).")
flags.DEFINE_string("output_md", None, "Markdown table path (default: beside the first model).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_hire.export import atomic_write_json, atomic_write_text, benchmark_files, benchmark_markdown

    missing = [path for path in FLAGS.models if not os.path.exists(path)]
    if missing:
        raise app.UsageError(f"No such .tflite file(s): {', '.join(missing)}")
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[FLAGS.xnnpack]
    rows = benchmark_files(FLAGS.models, [int(t) for t in FLAGS.num_threads], modes, FLAGS.warmup, FLAGS.runs,
                           FLAGS.gpu_check)
    base = os.path.join(os.path.dirname(os.path.abspath(FLAGS.models[0])), "benchmark")
    atomic_write_json(FLAGS.output_json or base + ".json", rows)
    table = benchmark_markdown(rows)
    atomic_write_text(FLAGS.output_md or base + ".md", table)
    print(table)
    print(json.dumps({"json": FLAGS.output_json or base + ".json", "markdown": FLAGS.output_md or base + ".md"}))


if __name__ == "__main__":
    app.run(main)
