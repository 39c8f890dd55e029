"""NADAR (2108.06885) on the shared trainer: every flag of training/train.py plus those of
`keras_hire.methods.robustness.NadarConfig`.

    # PGD-7 adversarial training of the digits backbone (Madry's MNIST setting, eps 0.3)
    python training/nadar.py --mode=retrain --model=digits_cnn --method=pgd --epsilon=0.3 --step_size=0.1 \\
        --steps=7 --epochs=10 --model_dir=runs/digits_pgd
    # FreeAT with m = 4 replays
    python training/nadar.py --mode=retrain --method=free --replays=4 --step_size=0.3 --model_dir=runs/digits_free
    # clean, PGD-20 (ours and ART's) and ART AutoAttack accuracy of the trained model
    python training/nadar.py --mode=evaluate --model_dir=runs/digits_pgd --eval_steps_pgd=20 --autoattack=fast

A run started again with the same flags resumes from the last checkpoint in --model_dir.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.robustness.config import NadarConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.robustness import run

    if config.mode == "search":
        from keras_hire.methods.robustness.search import search

        print(json.dumps(search(config), indent=2, default=str))
    elif config.mode == "retrain":
        report = run.retrain(config)
        print(json.dumps({"final": report["final"], "model_dir": config.train.model_dir}, indent=2))
    else:
        results = run.evaluate(config)
        print(run.summary_line(results))


if __name__ == "__main__":
    run_config_binary(NadarConfig, main)
