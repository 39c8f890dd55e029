"""Which ops LiteRT's GPU delegate rejects, checked on a CPU with a software Vulkan device.

`tf.lite.experimental.Analyzer(gpu_compatibility=True)` approves everything, so it is useless.
The real check creates LiteRT's WebGPU accelerator (shipped in ai-edge-litert) on Mesa 25's
lavapipe (a CPU Vulkan driver) and reads what it rejects. Install the driver once with
`tflite/install_gpu_check.sh` (Debian 12: Mesa 25 from bookworm-backports; Mesa 22 is refused).
Speeds measured this way mean nothing; only the op list does. This is the WebGPU/ML Drift
delegate, not Android's OpenCL delegate: it enforces the same 4-D limits, but phones still decide.
"""

import os
import re
import subprocess
import sys
import tempfile

_REJECTED = re.compile(r"^([A-Z0-9_]+): (.+)$")
_SUMMARY = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU")


def gpu_delegate_check(tflite_path, timeout=600):
    """`{"available", "fully_accelerated", "rejected": {op: reason}, "runtime_errors", "gpu_ops", "cpu_ops", "log"}`.

    `runtime_errors` lists WebGPU validation errors: the delegate took the graph but its kernels
    failed on the device, so the file would not run on this GPU path despite full acceptance.

    `available=False` (with the reason in `log`) when no usable Vulkan device is installed.
    """
    runtime_dir = tempfile.mkdtemp(prefix="xdg-")
    os.chmod(runtime_dir, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime_dir}
    command = [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model", "--model", tflite_path,
               "--use_gpu", "--num_runs", "1"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"available": False, "fully_accelerated": None, "rejected": {}, "log": "timed out"}
    log = result.stdout + result.stderr
    return parse_gpu_log(log, result.returncode)


def parse_gpu_log(log, returncode=0):
    """Parses the benchmark tool's output (split out for testing)."""
    no_device = ("No adapters found" in log or "Failed to create" in log and "GPU" in log) or returncode != 0
    rejected = {}
    for line in log.splitlines():
        match = _REJECTED.match(line.strip())
        if match and match.group(1) not in ("INFO", "WARNING", "ERROR"):
            rejected.setdefault(match.group(1), match.group(2).strip())
    summary = _SUMMARY.search(log)
    fully = "Fully accelerated: True" in log or (summary is not None and summary.group(2) == "0")
    if no_device and not rejected and summary is None and not fully:
        return {"available": False, "fully_accelerated": None, "rejected": {}, "log": log[-2000:]}
    # The delegate can accept every op and still fail to build its kernels on the device.
    errors = [line.split("Validation error:", 1)[1].strip() for line in log.splitlines() if "Validation error:" in line]
    return {
        "available": True,
        "fully_accelerated": bool(fully and not rejected),
        "runtime_errors": errors,
        "rejected": rejected,
        "gpu_ops": int(summary.group(1)) if summary else None,
        "cpu_ops": int(summary.group(2)) if summary else None,
        "log": log[-2000:],
    }


def gpu_check_model(model, timeout=600):
    """`gpu_delegate_check` of a Keras model's float32 TFLite file (written to a temporary folder)."""
    from keras_hire.export.tflite import to_tflite

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"{model.name}.tflite")
        with open(path, "wb") as handle:
            handle.write(to_tflite(model))
        return gpu_delegate_check(path, timeout=timeout)


def gpu_summary(gpu):
    """One table cell for a `gpu_delegate_check` result."""
    if not gpu["available"]:
        return "no Vulkan device (run tflite/install_gpu_check.sh)"
    if gpu.get("runtime_errors"):
        errors = gpu["runtime_errors"]
        return f"ops accepted, but {len(errors)} kernel error(s) on the device: {errors[0][:80]}"
    if gpu["fully_accelerated"]:
        return "fully accelerated"
    return "; ".join(f"{op}: {reason}" for op, reason in gpu["rejected"].items()) or "partly accelerated"
