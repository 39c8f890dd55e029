"""Quickstart: trains a Hire-MLP on the embedded MNIST digits, evaluates it, exports float32 and
int8 TFLite files, verifies and benchmarks them, and prints one table. ~5 minutes on 2 CPU cores.

    python training/quickstart.py --model_dir=runs/quickstart

Run again with the same --model_dir and it resumes (or, when done, only re-exports and benchmarks).
The logic is keras_hire.training.quickstart.run_quickstart; the flags are `QuickstartConfig`'s.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.training.quickstart import QuickstartConfig, run_quickstart  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    table, _ = run_quickstart(config.model_dir, config.epochs, config.num_threads)
    print("\n" + table)


if __name__ == "__main__":
    run_config_binary(QuickstartConfig, main)
