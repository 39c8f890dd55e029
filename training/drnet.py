"""Trains DRNet (2106.02898): stage 1, the ResNet classifier with resolution-aware BN at every candidate
resolution; stage 2, the resolution predictor and the classifier jointly (CE + eta * FLOPs loss).
Every flag of training/train.py plus those of `keras_hire.methods.dynamic_resolution.DRNetConfig`.

    # the paper's setting on ImageNet: DR-ResNet-50 at 224/168/112, alpha 2.5 GMACs, eta 0.2
    python training/drnet.py --model=resnet50 --init_checkpoint=resnet50.pth --resolutions=224,168,112 \\
        --target_macs=2.5e9 --eta=0.2 --stage1_epochs=70 --stage2_epochs=100 --dataset=folder \\
        --data_dir=/data/imagenet --model_dir=runs/dr_resnet50
    # the embedded digits, upsampled to 64
    python training/drnet.py --model=resnet18 --model_kwargs='{"depths": [1, 1, 1, 1], "channels": [16, 32, 48, 64], \\
        "stem_width": 16}' --resolutions=64,48,32 --predictor_size=32 --predictor_channels=16,16,32,32 \\
        --predictor_stem_width=16 --target_macs=3e6 --eta=1 --epochs=3 --model_dir=runs/drnet_digits

<model_dir>/stage1/model.keras is the DR classifier, <model_dir>/stage2/model.keras the whole DRNet
(export it with `keras_hire.export.export_drnet`). A run started again with the same flags resumes
the stage it was in.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.dynamic_resolution.config import DRNetConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.dynamic_resolution import run_drnet

    reports = run_drnet(config)
    print(json.dumps({stage: report["final"] for stage, report in reports.items()}, indent=2))


if __name__ == "__main__":
    run_config_binary(DRNetConfig, main)
