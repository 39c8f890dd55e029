"""The machine's float32 GEMM rate, the yardstick that achieved GFLOP/s are reported against.

Bare times move by 2x on a shared machine; a model's rate as a fraction of the GEMM rate
measured in the same sweep does not.
"""

import json
import os
import subprocess
import sys

_GEMM_SCRIPT = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
size, threads, repeats = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
a = rng.standard_normal((size, size), dtype=np.float32)
b = rng.standard_normal((size, size), dtype=np.float32)
with threadpool_limits(limits=threads, user_api="blas"):
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); a @ b; times.append(time.perf_counter() - start)
blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "threading_layer")}
        for i in threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({"times": times, "blas": blas}))
"""

# Tuning overrides that may be set on shared machines; the yardstick is the library's own choice.
_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def gemm_rate(threads=2, size=2048, repeats=10):
    """float32 GFLOP/s of a numpy `size`^3 matmul on `threads` BLAS threads (median and best).

    Runs in a child process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, so the BLAS picks
    its kernel for this CPU; reports which kernel ran (via threadpoolctl) and which overrides
    were removed.
    """
    import numpy as np

    env = {key: value for key, value in os.environ.items() if key not in _BLAS_OVERRIDES}
    removed = {key: os.environ[key] for key in _BLAS_OVERRIDES if key in os.environ}
    output = subprocess.run([sys.executable, "-c", _GEMM_SCRIPT, str(size), str(threads), str(repeats)],
                            capture_output=True, text=True, env=env, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    flops = 2.0 * size**3
    rates = [flops / t / 1e9 for t in result["times"]]
    return {"threads": threads, "size": size, "median_gflops": float(np.median(rates)),
            "best_gflops": float(np.max(rates)), "blas": result["blas"], "unset_env": removed}


def achieved_gflops(macs, milliseconds):
    """GFLOP/s of a forward pass of `macs` multiply-accumulates (2 FLOPs each) taking `milliseconds`."""
    return 2 * macs / (milliseconds / 1e3) / 1e9


def gemm_sample(threads, repeats=5):
    """Median GFLOP/s of a short `gemm_rate` measurement: one sample of an alternating sweep."""
    return gemm_rate(threads, repeats=repeats)["median_gflops"]
