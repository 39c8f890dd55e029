"""Quickstart: trains a Hire-MLP on the embedded MNIST digits, evaluates it, exports float32 and
int8 TFLite files, verifies and benchmarks them, and prints one table. ~5 minutes on 2 CPU cores.

    python training/quickstart.py --model_dir=runs/quickstart

Run again with the same --model_dir and it resumes (or, when done, only re-exports and benchmarks).
The logic is keras_hire.training.quickstart.run_quickstart.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", "runs/quickstart", "Output folder.")
flags.DEFINE_integer("epochs", 8, "Training epochs.")
flags.DEFINE_list("num_threads", ["1", "2"], "Benchmark thread counts.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_hire.training.quickstart import run_quickstart

    table, _ = run_quickstart(FLAGS.model_dir, FLAGS.epochs, [int(t) for t in FLAGS.num_threads])
    print("\n" + table)


if __name__ == "__main__":
    app.run(main)
