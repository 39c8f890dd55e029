"""Trains a keras_hire model: every flag is a field of `keras_hire.training.TrainConfig`.

    python training/train.py --model=hire_mlp_tiny --dataset=mnist_5k --epochs=8 --model_dir=runs/mnist
    python training/train.py --model=hire_mlp_small --dataset=folder --data_dir=/data/imagenet \\
        --image_size=224 --batch_size=256 --epochs=300 --warmup_epochs=20 --mixup=0.8 --cutmix=1.0 \\
        --randaugment_ops=2 --random_erasing=0.25 --random_resized_crop --flip --drop_path_rate=0.1 \\
        --strategy=mirrored --model_dir=runs/hire_small
    python training/train.py --config=runs/mnist/config.json --epochs=12   # a saved run, one field changed

A run started again with the same flags resumes from the last checkpoint in --model_dir.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.training.config import TrainConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.training import train

    report = train(config)
    print(json.dumps({"final": report["final"], "model_dir": config.model_dir}, indent=2))


if __name__ == "__main__":
    run_config_binary(TrainConfig, main)
