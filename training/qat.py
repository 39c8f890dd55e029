"""Quantization-aware training, pruning and clustering: every flag of training/train.py plus those of
`keras_hire.methods.quantization.CompressConfig`. Each stage trains --epochs epochs.

    # a standard-layer CNN through TFMOT: QAT, then an int8 TFLite file
    python training/qat.py --model=digits_cnn --init_checkpoint=runs/cnn/model.keras --qat --epochs=2 \\
        --model_dir=runs/cnn_qat
    # pruning to 80% zeros, then pruning-preserving QAT
    python training/qat.py --model=resnet18 --init_checkpoint=runs/r18/model.keras --prune_sparsity=0.8 --qat \\
        --model_dir=runs/r18_pqat
    # clustering to 16 centroids per kernel (float32 file, compresses with gzip)
    python training/qat.py --model=digits_cnn --init_checkpoint=runs/cnn/model.keras --clusters=16 \\
        --model_dir=runs/cnn_c16
    # a DeiT natively (Keras 3 fake-quant), ranges started from the PTQ-for-ViT search
    python training/qat.py --model=deit_tiny --init_checkpoint=runs/deit/model.keras --qat --qat_init=ptq \\
        --model_dir=runs/deit_qat

The int8 or compressed file is <model_dir>/model.tflite, checked against the trained model;
<model_dir>/metrics.json holds the accuracies, sizes and XNNPACK coverage. A run started again with
the same flags resumes where it stopped. Models with keras_hire's own layers (ViT family, Hire-MLP,
CMT) take the native Keras 3 QAT (picked by --path=auto; QAT only, no pruning or clustering), whose
trained ranges also land in <model_dir>/qat_ranges.json (docs/qat.md).
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.quantization.qat_config import CompressConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.quantization.compress import compress

    report = compress(config)
    if "file" not in report:  # a non-chief worker of a multi-worker run: the chief writes the file
        return
    print(json.dumps({"file": report["file"], "model_dir": config.train.model_dir}, indent=2, default=str))


if __name__ == "__main__":
    run_config_binary(CompressConfig, main)
