"""Post-training quantization of a trained ViT (PTQ for ViT, arXiv 2106.14156) to an int8 TFLite file.

    python tflite/quantize.py --model=runs/deit_digits/model.keras --dataset=mnist_5k \\
        --calibration_images=100 --bits=8 --method=ptq_vit --output_dir=runs/deit_digits/quantize

Writes <model>.<run>.int8.tflite for 8-bit runs (its int8 scales are the searched intervals), the
converter's int8, dynamic-range and float32 files for comparison (--compare), report_<run>.json,
report.md over every run in --output_dir, accuracy_vs_size.png and, with --mixed_precision,
bit_allocation_<run>.png. Bit widths other than 8 are simulated in Keras only. The logic is
keras_hire.methods.quantization.quantize_file; the flags are QuantizeConfig's.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.quantization.config import QuantizeConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.quantization.flow import quantize_file
    from keras_hire.methods.quantization.report import reports_markdown

    report = quantize_file(config)
    print(reports_markdown([report]))


if __name__ == "__main__":
    run_config_binary(QuantizeConfig, main)
