"""Issue 18's speed goals, one run: QAT int8 files against float32 (and dynamic range) on XNNPACK.

    python benchmarks/qat_speed.py                       # resnet18@224 and digits_cnn@28 (TFMOT)
    python benchmarks/qat_speed.py --models=resnet18@224 --threads=1
    python benchmarks/qat_speed.py --models=deit_tiny@224        # native QAT (custom layers)

Goals: the TFMOT QAT int8 file of a CNN fully on XNNPACK and at least 2x faster than its float32
file; the native QAT int8 file of a DeiT (a model with custom layers, which TFMOT cannot take) fully
on XNNPACK and at least as fast as its dynamic-range file. Also measured:
whether XNNPACK's sparse inference speeds up a pruned CNN (80% of every conv/dense kernel zero, the
smallest magnitudes, as magnitude pruning leaves them; speed does not depend on which weights),
converted dense and with `Optimize.EXPERIMENTAL_SPARSITY`. Weights are untrained (speed does not
depend on them); QAT ranges come from a few training-mode passes on random images. Files are timed
alternately over --sweeps sweeps (the machine's speed moves), medians over sweeps. Writes
<output>.json and .md.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", ["resnet18@224", "digits_cnn@28", "deit_tiny@224"],
                  "name@size entries: standard-layer CNNs go through TFMOT, models with custom layers natively.")
flags.DEFINE_list("threads", ["1", "2"], "Interpreter thread counts.")
flags.DEFINE_integer("sweeps", 3, "Alternating timing sweeps.")
flags.DEFINE_integer("runs", 20, "Timed invokes per file, thread count and sweep.")
flags.DEFINE_float("sparsity", 0.8, "Zero fraction of the pruned CNN's kernels.")
flags.DEFINE_string("output", "benchmarks/results/qat_speed", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def _images(shape, count=4, seed=0):
    import numpy as np

    return np.random.default_rng(seed).uniform(0, 1, (count,) + tuple(shape)).astype("float32")


def cnn_files(model):
    """float32, dynamic, TFMOT QAT int8, pruned dense and pruned sparse-encoded files of a standard-layer CNN."""
    import numpy as np
    import tensorflow as tf

    from keras_hire.export import to_tflite
    from keras_hire.methods.quantization.tf_keras_twin import to_tf_keras
    from keras_hire.methods.quantization.tfmot_stages import wrap
    from keras_hire.methods.quantization.tfmot_training import tflite_bytes

    files = {"float32": to_tflite(model), "dynamic": to_tflite(model, "dynamic")}
    qat = wrap("qat", to_tf_keras(model))
    for _ in range(3):
        qat(_images(model.inputs[0].shape[1:], 8), training=True)
    files["QAT int8 (TFMOT)"] = tflite_bytes(qat, int8=True)
    pruned = to_tf_keras(model)
    for layer in pruned.layers:
        for weight in layer.weights:
            if "kernel" in weight.name and len(weight.shape) >= 2:
                values = weight.numpy()
                values[np.abs(values) < np.quantile(np.abs(values), FLAGS.sparsity)] = 0.0
                weight.assign(values)
    files[f"pruned {FLAGS.sparsity:.0%} dense"] = tflite_bytes(pruned, int8=False)
    spec = tf.TensorSpec((1,) + tuple(pruned.inputs[0].shape[1:]), tf.float32)
    function = tf.function(lambda x: pruned(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], pruned)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    files[f"pruned {FLAGS.sparsity:.0%} sparse"] = converter.convert()
    return files


def native_files(model):
    """float32, dynamic and native QAT int8 files of a model with custom layers (ranges from random images)."""
    from keras_hire.export import to_tflite
    from keras_hire.methods.quantization.native_qat import export_native_qat, prepare_native_qat

    qat = prepare_native_qat(model, _images(model.inputs[0].shape[1:], 8))
    return {"float32": to_tflite(model), "dynamic": to_tflite(model, "dynamic"),
            "QAT int8 (native)": export_native_qat(qat)}


def time_files(files, threads):
    """`{(file, threads): median ms}`, medians over alternating sweeps."""
    import statistics

    from keras_hire.benchmark.timing import median_ms
    from keras_hire.export.interpreter import make_interpreter

    samples = {}
    for _ in range(FLAGS.sweeps):
        for name, flatbuffer in files.items():
            for count in threads:
                interpreter = make_interpreter(flatbuffer, num_threads=count)
                samples.setdefault((name, count), []).append(median_ms(interpreter, runs=FLAGS.runs))
    return {key: statistics.median(values) for key, values in samples.items()}


def main(argv):
    del argv
    from keras_hire.benchmark.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.methods.quantization.tf_keras_twin import custom_layers
    from keras_hire.models import create_model
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    threads = [int(t) for t in FLAGS.threads]
    rows, lines = [], ["| model | file | size (MB) | " + " | ".join(f"{t} thread(s) ms" for t in threads)
                       + " | vs float32 | not on XNNPACK |", "|---|---|---|" + "---|" * len(threads) + "---|---|"]
    for entry in FLAGS.models:
        name, size = entry.split("@")
        channels = 1 if name.startswith("digits") else 3
        model = create_model(name, num_classes=10 if channels == 1 else 1000,
                             input_shape=(int(size), int(size), channels))
        files = native_files(model) if custom_layers(model) else cnn_files(model)
        timings = time_files(files, threads)
        for file_name, flatbuffer in files.items():
            row = {"model": entry, "file": file_name, "bytes": len(flatbuffer),
                   "not_delegated": format_not_delegated(xnnpack_coverage(flatbuffer)),
                   "ms": {t: timings[(file_name, t)] for t in threads},
                   "speedup_vs_float32": {t: timings[("float32", t)] / timings[(file_name, t)] for t in threads}}
            rows.append(row)
            lines.append(f"| {entry} | {file_name} | {row['bytes'] / 1e6:.2f} | "
                         + " | ".join(f"{row['ms'][t]:.2f}" for t in threads) + " | "
                         + ", ".join(f"{row['speedup_vs_float32'][t]:.2f}x" for t in threads)
                         + f" | {row['not_delegated']} |")
            print(lines[-1], flush=True)
    atomic_write_json(FLAGS.output + ".json", rows)
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
