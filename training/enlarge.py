"""Greedy network enlarging (2108.00177) of a GhostNet: every flag of training/train.py (the proxy and
final trainings) plus those of `keras_hire.methods.enlarging.EnlargeConfig`.

    # a small GhostNet on the digits, grown to 4x its MACs, greedy vs compound and width-only
    python training/enlarge.py --base=ghostnet_050 --image_size=32 --target_macs=7.3e6 --increment=0.5 \\
        --proxy_epochs=1 --final_epochs=6 --seeds=0,1,2 --workers=2 --model_dir=runs/enlarge

Writes <model_dir>/search/ (one folder per trial with its trial.json, path.json, path.png, the Optuna
journal), final/<arm>_seed<s>/ and enlarging_report.json/.md. Started again with the same flags it
resumes: finished trials are not rerun, unfinished ones resume from their checkpoints.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.enlarging.config import EnlargeConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.enlarging import run_enlarging

    report = run_enlarging(config)
    print(json.dumps({name: {k: arm.get(k) for k in ("macs", "mean", "std")} for name, arm in report["arms"].items()},
                     indent=2))


if __name__ == "__main__":
    run_config_binary(EnlargeConfig, main)
