"""Exports a trained `.keras` model to batch-1 TFLite files and checks each one against Keras.

    python tflite/export.py --model=runs/mnist/model.keras --output_dir=runs/mnist/tflite \\
        --quantizations=float32,int8 --dataset=mnist_5k

Writes <name>.<quantization>.tflite, export_report.json and export_report.md (top-1 agreement,
accuracy and max abs difference on held-out images, XNNPACK coverage). Builtin ops only: a model
that needs a Flex op fails with the op's name. The logic is keras_hire.deploy.export_keras_file;
the flags are `keras_hire.deploy.ExportConfig`'s.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.deploy.config import ExportConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.deploy import export_keras_file, export_markdown

    output_dir = config.output_dir or os.path.join(os.path.dirname(os.path.abspath(config.model)), "tflite")
    report = export_keras_file(config.model, output_dir, config.quantizations, config.dataset, config.data_dir,
                               config.train_split, config.eval_split, config.num_calibration, config.num_eval,
                               config.seed, crop_fraction=config.eval_crop_fraction)
    print(export_markdown(report))


if __name__ == "__main__":
    run_config_binary(ExportConfig, main)
