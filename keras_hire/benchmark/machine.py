"""The machine a benchmark ran on, written beside its numbers.

Int8 speed-ups depend on the CPU's ISA extensions (VNNI and AMX give int8 GEMMs far more throughput than
AVX2 alone); the DeiT-S int8/float32 ratio moved from 4.5x to 4.9x between two sessions' machines
(2026-12-03 and 12-04), so a ratio is only comparable with its CPU named.
"""

import os
import platform

# The ISA extensions XNNPACK's int8 and float kernels dispatch on (x86 `/proc/cpuinfo` flag names).
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def machine_description(cpuinfo_path="/proc/cpuinfo"):
    """`{"cpu": model name, "cores": n, "isa": [the _ISA_FLAGS present]}`; off Linux, platform's CPU name only."""
    model, flags = platform.processor() or platform.machine(), set()
    if os.path.exists(cpuinfo_path):
        fields = {}
        with open(cpuinfo_path) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())  # the first core's entry
        model = fields.get("model name", model)
        flags = set(fields.get("flags", fields.get("Features", "")).split())
    return {"cpu": model, "cores": os.cpu_count(), "isa": [flag for flag in _ISA_FLAGS if flag in flags]}


def machine_line(description=None):
    """One line naming the machine, e.g. `machine: Intel(R) Xeon(R) Processor, 2 cores, ISA avx2 fma amx_int8`."""
    description = description or machine_description()
    return f"machine: {description['cpu']}, {description['cores']} cores, ISA {' '.join(description['isa']) or 'n/a'}"
