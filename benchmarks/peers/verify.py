"""Checks each peer file of a manifest in THIS repo's venv: LiteRT interpreter, XNNPACK coverage, latency.

    /work/main/.venv/bin/python benchmarks/peers/verify.py [--output_dir DIR] [--threads 2] [--runs 20]

For every entry of `DIR/manifest.json`: allocate an `ai_edge_litert` interpreter, feed a random
input of the file's own shape and dtype (`keras_hire.benchmark.time_interpreter`), check the output
is finite; count the nodes the XNNPACK delegate takes (`keras_hire.benchmark.xnnpack_coverage`);
time invokes at `--threads` (`keras_hire.benchmark.time_interpreter`, median). Writes
`DIR/verify.json`. The latencies are indicative only on a shared machine: the same-run benchmark
is the place for comparisons.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _manifest import DEFAULT_OUTPUT_DIR, atomic_write  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import numpy as np

    from keras_hire.benchmark import format_delegated, format_not_delegated, time_interpreter, xnnpack_coverage
    from keras_hire.export import make_interpreter

    with open(os.path.join(args.output_dir, "manifest.json")) as stream:
        manifest = json.load(stream)
    results = []
    for entry in manifest:
        path = os.path.join(args.output_dir, entry["path"])
        with open(path, "rb") as stream:
            data = stream.read()
        # time_interpreter feeds a fixed random input of the file's own shape and dtype.
        interpreter = make_interpreter(data, num_threads=args.threads)
        times = time_interpreter(interpreter, args.warmup, args.runs)
        detail = interpreter.get_input_details()[0]
        output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        coverage = xnnpack_coverage(data)
        row = {"path": entry["path"], "model": entry["model"], "size": entry["size"], "runtime": entry["runtime"],
               "quantization": entry["quantization"], "params": entry["params"],
               "input_shape": [int(d) for d in detail["shape"]], "input_dtype": np.dtype(detail["dtype"]).name,
               "output_shape": [int(d) for d in output.shape], "output_finite": bool(np.all(np.isfinite(output))),
               "size_bytes": len(data),
               "xnnpack_delegated": format_delegated(coverage),
               "not_delegated": format_not_delegated(coverage),
               "threads": args.threads, "runs": len(times), "median_ms": float(np.median(times)),
               "min_ms": float(np.min(times))}
        print(f"[peers/verify] {row['path']}: input {row['input_shape']} {row['input_dtype']}, "
              f"output {row['output_shape']} finite={row['output_finite']}, XNNPACK {row['xnnpack_delegated']} "
              f"(not: {row['not_delegated']}), {args.threads} threads median {row['median_ms']:.1f} ms "
              f"(min {row['min_ms']:.1f})", flush=True)
        results.append(row)
    atomic_write(os.path.join(args.output_dir, "verify.json"), json.dumps(results, indent=2) + "\n")
    failed = [row["path"] for row in results if not row["output_finite"]]
    if failed:
        print(f"[peers/verify] non-finite outputs: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
