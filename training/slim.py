"""Patch-slims a trained ViT-family model (2106.02852): every flag of training/train.py (the whole-model
fine-tune) plus those of `keras_hire.methods.slimming.SlimConfig`.

    # the paper's settings on a trained DeiT-Ti: tolerance 0.01, granularity 10, 3 block epochs
    python training/slim.py --checkpoint=runs/deit_tiny/model.keras --model=deit_tiny --dataset=folder \\
        --data_dir=/data/imagenet --image_size=224 --tolerance=0.01 --granularity=10 --block_epochs=3 \\
        --finetune_epochs=30 --model_dir=runs/deit_tiny_slim
    # given sets, no search
    python training/slim.py --checkpoint=runs/deit/model.keras --keep_file=keep.json --model_dir=runs/deit_keep

Writes <model_dir>/model.keras (slimmed), keep.json, tflite/, slimming_report.md/.json (MACs, accuracy,
latency before and after) and kept_patches.png. Started again with the same flags, the search resumes
after its last finished block and the fine-tune after its last epoch.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.slimming.config import SlimConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.slimming.run import run_slimming

    report = run_slimming(config)
    print(json.dumps({"keep_counts": report["keep_counts"], "mac_reduction": report["mac_reduction"],
                      "accuracy": [report["original"]["accuracy"], report["slimmed"]["accuracy"]],
                      "model_dir": config.train.model_dir}, indent=2))


if __name__ == "__main__":
    run_config_binary(SlimConfig, main)
