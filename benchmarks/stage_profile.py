"""Where a backbone's TFLite time goes, stage by stage, against the machine's GEMM rate.

    python benchmarks/stage_profile.py --model=hire_mlp_small --size=224 --threads=2

The LiteRT Python interpreter has no op profiler, so this converts the backbone cut after each
stage (`model.pyramid_outputs`), times each prefix, and differences the times: per-stage latency,
MACs and achieved fraction of the GEMM rate. The head (norm, pool, classifier) is the last row.
The logic is keras_hire.benchmark.profile_stages.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.benchmark.configs import StageProfileConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.benchmark import benchmark_model, profile_stages
    from keras_hire.utils import markdown_table

    model = benchmark_model(config.model, config.size)
    profile = profile_stages(model, config.threads, config.runs, config.sweeps)
    rows = profile["rows"]
    print(f"{config.model} @{config.size}, {config.threads} threads, GEMM {profile['gemm_gflops']:.0f} GFLOP/s, "
          f"total {profile['total_ms']:.1f} ms")
    print(markdown_table(rows, [(key, key) for key in rows[0]]))


if __name__ == "__main__":
    run_config_binary(StageProfileConfig, main)
