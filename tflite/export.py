"""Exports a trained `.keras` model to batch-1 TFLite files and checks each one against Keras.

    python tflite/export.py --model=runs/mnist/model.keras --output_dir=runs/mnist/tflite \
        --quantizations=float32,int8 --dataset=mnist_5k

Writes <name>.<quantization>.tflite, export_report.json and export_report.md (top-1 agreement,
accuracy and max abs difference on held-out images, XNNPACK coverage). Builtin ops only: a model
that needs a Flex op fails with the op's name. The logic is keras_hire.export.export_keras_file.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The .keras model file.", required=True)
flags.DEFINE_string("output_dir", None, "Output folder (default: <model folder>/tflite).")
flags.DEFINE_list("quantizations", ["float32", "float16", "dynamic", "int8"], "float32, float16, dynamic, int8.")
flags.DEFINE_string("dataset", "mnist_5k", "Dataset for calibration and verification (see training/train.py).")
flags.DEFINE_string("data_dir", None, "Image-folder root or TFDS data_dir.")
flags.DEFINE_string("train_split", "train", "Split the int8 calibration images come from.")
flags.DEFINE_string("eval_split", None, "Held-out split for verification (default: test/validation/val).")
flags.DEFINE_integer("num_calibration", 200, "Calibration images for int8.")
flags.DEFINE_integer("num_eval", 1000, "Held-out images to verify each file on (0 = skip).")
flags.DEFINE_integer("seed", 0, "Seed of the calibration subset.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_hire.export import export_keras_file, export_markdown

    bad = sorted(set(FLAGS.quantizations) - {"float32", "float16", "dynamic", "int8"})
    if bad:
        raise app.UsageError(f"Unknown --quantizations {bad}; use float32, float16, dynamic, int8.")
    output_dir = FLAGS.output_dir or os.path.join(os.path.dirname(os.path.abspath(FLAGS.model)), "tflite")
    report = export_keras_file(FLAGS.model, output_dir, FLAGS.quantizations, FLAGS.dataset, FLAGS.data_dir,
                               FLAGS.train_split, FLAGS.eval_split, FLAGS.num_calibration, FLAGS.num_eval, FLAGS.seed)
    print(export_markdown(report))


if __name__ == "__main__":
    app.run(main)
