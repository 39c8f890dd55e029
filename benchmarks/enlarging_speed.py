"""GhostNet speed beside MACs: GhostNet 1.0 and S-GhostNet b1 as TFLite (float32, int8; 1 and 2 threads),
and the searched model of an enlarging run beside its compound-scaling baseline at equal MACs.

    python benchmarks/enlarging_speed.py                                   # ghostnet_100@224, s_ghostnet_b1@240
    python benchmarks/enlarging_speed.py --report=runs/enlarge/enlarging_report.json --sweeps=3

MACs are not latency (Efficient-AI-Backbones#1): the table puts both side by side. Weights are random with
trained-like BatchNorms (`perturb_normalization`: at initialisation the activations vanish through the
depth, and the int8 head's `+3` ADD then gets a scale ratio XNNPACK refuses); the int8 files are
calibrated on random images (speed does not depend on the weights). Files are timed alternately over
--sweeps sweeps (the machine's speed moves); each figure is the median over sweeps of the per-sweep
median of --runs invokes. Writes <output>.json and <output>.md.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", ["ghostnet_100", "s_ghostnet_b1"], "Registry names, each at its default size.")
flags.DEFINE_string("report", None, "An enlarging_report.json: also time its greedy and compound arms.")
flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
flags.DEFINE_integer("sweeps", 3, "Alternating timing sweeps.")
flags.DEFINE_integer("runs", 20, "Timed invokes per file, thread count and sweep.")
flags.DEFINE_string("output", "benchmarks/results/enlarging_speed", "Output path without extension.")
FLAGS = flags.FLAGS


def _models():
    import keras_hire
    from keras_hire.benchmark.trained_like import perturb_normalization
    from keras_hire.methods.enlarging.space import EnlargeState

    models = {name: keras_hire.models.create_model(name) for name in FLAGS.models}
    if FLAGS.report:
        with open(FLAGS.report) as handle:
            arms = json.load(handle)["arms"]
        for arm in ("greedy", "compound"):
            state = EnlargeState.from_dict(arms[arm]["state"])
            models[f"enlarged_{arm}"] = keras_hire.models.GhostNet(
                **state.model_kwargs(), num_classes=10, input_shape=(state.resolution, state.resolution, 3),
                name=f"enlarged_{arm}")
    return {name: perturb_normalization(model) for name, model in models.items()}


def main(argv):
    del argv
    import numpy as np

    from keras_hire.benchmark.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.benchmark.machine import machine_description, machine_line
    from keras_hire.benchmark.timing import median_ms
    from keras_hire.export import to_tflite
    from keras_hire.export.interpreter import make_interpreter
    from keras_hire.utils import count_macs
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    threads = [int(t) for t in FLAGS.threads]
    files, info = {}, {}
    for name, model in _models().items():
        size = tuple(model.inputs[0].shape[1:])
        images = np.random.default_rng(0).standard_normal((16,) + size).astype(np.float32)
        info[name] = {"macs": count_macs(model), "size": size[0]}
        for quantization in ("float32", "int8"):
            print(f"[speed] converting {name} {quantization}", flush=True)
            files[(name, quantization)] = to_tflite(model, quantization, representative_data=[images])
    interpreters = {(key, t): make_interpreter(flatbuffer, num_threads=t) for key, flatbuffer in files.items()
                    for t in threads}
    samples = {key: [] for key in interpreters}
    for sweep in range(FLAGS.sweeps):
        for key, interpreter in interpreters.items():
            samples[key].append(median_ms(interpreter, 3, FLAGS.runs))
        print(f"[speed] sweep {sweep + 1}/{FLAGS.sweeps} done", flush=True)
    rows = []
    for ((name, quantization), t), values in samples.items():
        coverage = xnnpack_coverage(files[(name, quantization)])
        rows.append({"model": name, "size": info[name]["size"], "mmacs": round(info[name]["macs"] / 1e6, 2),
                     "file": quantization, "threads": t, "ms": round(float(np.median(values)), 3),
                     "not_delegated": format_not_delegated(coverage)})
    lines = [machine_line(), "", "| model | input | MMACs | file | threads | median ms | ops not on XNNPACK |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['size']} | {r['mmacs']} | {r['file']} | {r['threads']} | {r['ms']} | "
              f"{r['not_delegated']} |" for r in rows]
    if FLAGS.report:
        for t in threads:
            for q in ("float32", "int8"):
                ms = {arm: float(np.median(samples[((f"enlarged_{arm}", q), t)])) for arm in ("greedy", "compound")}
                macs = {arm: info[f"enlarged_{arm}"]["macs"] for arm in ms}
                lines.append(f"\ngreedy / compound, {q}, {t} thread(s): latency {ms['greedy'] / ms['compound']:.2f}x "
                             f"at MACs {macs['greedy'] / macs['compound']:.3f}x")
    atomic_write_json(FLAGS.output + ".json", {"rows": rows, "samples": {str(k): v for k, v in samples.items()},
                                               "sweeps": FLAGS.sweeps, "runs": FLAGS.runs,
                                               "machine": machine_description()})
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
