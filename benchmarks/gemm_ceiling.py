"""How close XNNPACK's float32 kernels get to the machine's GEMM rate on a model's stage shapes.

    python benchmarks/gemm_ceiling.py                                   # HireMLP-Small at 224
    python benchmarks/gemm_ceiling.py --model=cmt_tiny --size=160 --expansion=3.6
    python benchmarks/gemm_ceiling.py --model=cmt_small --size=224

Times, in one process, batch-1 TFLite files of: one 1024^3 matrix product; and,
at each stage's output shape of the model (`pyramid_outputs`), a stack of six channel MLPs (1x1
conv C->eC, optional GELU, 1x1 conv eC->C, residual): the cheapest thing a block of that width can
be. Each is reported as a fraction of the numpy 2048^3 GEMM rate at the same thread count
(measured in a child process first, so OpenBLAS threads do not compete). The last line weights
the GELU stacks' fractions by each stage's share of the model's MACs: a bound on what a model
built from these GEMMs can reach on this CPU with XNNPACK. The logic is keras_hire.benchmark.gemm_ceiling.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.benchmark.configs import GemmCeilingConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.benchmark import gemm_ceiling
    from keras_hire.models import create_model

    model = create_model(config.model, input_shape=(config.size, config.size, 3))  # only shapes and MACs count
    result = gemm_ceiling(model, config.expansion, config.threads, config.runs)
    print(f"{config.model} @{config.size}, MLP expansion {config.expansion}; numpy float32 GEMM rate, "
          f"{config.threads} threads: {result['gemm_gflops']:.1f} GFLOP/s\n")
    print("| case | ms | GFLOP/s | fraction of GEMM |\n|---|---|---|---|")
    for row in result["rows"]:
        print(f"| {row['case']} | {row['ms']:.2f} | {row['gflops']:.0f} | {row['fraction']:.2f} |")
    shares = ", ".join(f"{stage} {100 * share:.0f}%" for stage, share in result["mac_shares"].items())
    print(f"\nMAC shares: {shares}. MAC-weighted ceiling (GELU stacks): {result['ceiling']:.2f} of the GEMM rate.")


if __name__ == "__main__":
    run_config_binary(GemmCeilingConfig, main)
