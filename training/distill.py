"""Distils a keras_hire student from a trained teacher: every flag of training/train.py (the student's
run) plus those of `keras_hire.methods.distillation.DistillConfig`.

    # the paper: DeiT-Ti <- CaiT-S24, soft KD + manifold terms, alpha 1, beta 1, K 192
    python training/distill.py --model=deit_tiny --teacher=cait_s24 --teacher_checkpoint=runs/cait/model.keras \\
        --distillation=manifold --dataset=folder --data_dir=/data/imagenet --image_size=224 --epochs=300 \\
        --model_dir=runs/deit_tiny_mf
    # DeiT hard distillation with the distillation token
    python training/distill.py --model=deit_tiny_distilled --teacher_checkpoint=runs/cait/model.keras \\
        --distillation=hard --alpha=0.5 --model_dir=runs/deit_tiny_hard

The saved <model_dir>/model.keras is the student alone (export it with tflite/export.py). A run
started again with the same flags resumes from the last checkpoint in --model_dir.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.distillation.config import DistillConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.distillation import distill

    report = distill(config)
    print(json.dumps({"final": report["final"], "model_dir": config.train.model_dir}, indent=2))


if __name__ == "__main__":
    run_config_binary(DistillConfig, main)
