"""Speed of keras_hire models on this CPU, against the machine's float32 GEMM rate, in one run.

    python benchmarks/speed.py                       # Hire-MLP-S, CMT-Ti, CMT-S, DeiT-S, Aug-ViT-S
    python benchmarks/speed.py --models=hire_mlp_small:224,cmt_small:224

For each model (random weights, with trained-like normalisation values: keras_hire.benchmark.trained_like):
batch-1 TFLite float32, dynamic-range int8 (int8 weights, activations quantized on the fly) and
full int8 at 1 and 2 threads (XNNPACK), Keras with XLA, and the numpy 2048^3 float32 GEMM rate at 1 and 2
threads, all timed alternately over --sweeps sweeps (figures are medians of the sweep medians,
so that a noisy neighbour hits every runtime alike). Achieved GFLOP/s = 2 x MACs / latency,
reported as a fraction of the GEMM rate at the same thread count measured in the same sweep
(median over sweeps), and as a best case (fastest sweep over best GEMM rate). For int8 files the
fraction compares against the float32 GEMM rate, so it can exceed 1. Also lists every op XNNPACK did
not take. Writes --output_json and prints a markdown table for benchmarks/README.md. The logic is
keras_hire.benchmark.measure_model.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.benchmark.configs import SpeedConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.benchmark import load_peers, measure_model, parse_model_entry, speed_markdown, speed_summary
    from keras_hire.utils import atomic_write_json

    results, peers = [], load_peers(config.peers)
    for entry in config.models:
        name, size = parse_model_entry(entry)
        results.append(measure_model(name, size, config.sweeps, config.runs, config.calibration,
                                     peers.get((name, size))))
        atomic_write_json(config.output_json, results)
    print(speed_markdown(results))
    for result in results:
        print(speed_summary(result))


if __name__ == "__main__":
    run_config_binary(SpeedConfig, main)
