"""`SlimConfig`: a patch-slimming run (the flags of training/slim.py), nesting the fine-tuning `TrainConfig`."""

import dataclasses
import os
from typing import Optional, Tuple

from keras_hire.export.tflite import QUANTIZATIONS
from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field


@dataclasses.dataclass
class SlimConfig(Config):
    """A patch-slimming run: search the token sets of a trained ViT, fine-tune, export, report.

    Defaults are the paper's settings where it gives them (tolerance 0.01, granularity 10, 3
    block epochs); the rest are this implementation's choices (docs/slimming.md).

    Attributes:
        train: the whole-model fine-tuning run (data, optimizer, `model_dir`, strategy, ...);
            `--model` names the checkpoint's registry family (for its input size and crop);
            the fine-tune runs `--finetune_epochs` epochs (`--epochs` is not used).
        checkpoint: the trained model to slim, a `.keras` file.
        keep_file: a JSON file of per-block token sets to use instead of searching.
        tolerance, granularity, block_epochs, block_learning_rate: Algorithm 1's settings.
        finetune_epochs: epochs of the final whole-model fine-tune (0: none).
        num_search_images: training images the search measures errors and fine-tunes blocks on.
        quantizations: TFLite files written for the original and the slimmed model.
        num_eval: held-out images for the accuracies and the TFLite checks.
        latency_threads, latency_runs: the TFLite latency measurement.
    """

    train: TrainConfig = config_field(default_factory=lambda: TrainConfig(model="deit_tiny"),
                                      help="The whole-model fine-tuning run of the slimmed model.")
    checkpoint: Optional[str] = config_field(None, help="The trained ViT-family model to slim: a .keras file.",
                                             required=True, fix="pass --checkpoint=<run>/model.keras")
    keep_file: Optional[str] = config_field(None, help="A JSON list of per-block token index lists to use instead "
                                            "of searching.")
    tolerance: float = config_field(0.01, help="Algorithm 1's epsilon: allowed relative error of the next block's "
                                    "output (paper: 0.01).", min=0.0)
    granularity: int = config_field(10, help="Algorithm 1's r0: tokens added per candidate (paper: 10).", min=1)
    block_epochs: int = config_field(3, help="Block fine-tuning epochs per candidate (paper: 3).", min=0)
    block_learning_rate: float = config_field(1e-4, help="AdamW learning rate of block fine-tuning.",
                                              greater_than=0.0)
    finetune_epochs: int = config_field(10, help="Epochs of the final whole-model fine-tune (0: none).", min=0)
    num_search_images: int = config_field(256, help="Training images the search measures and fine-tunes on.",
                                          min=1)
    quantizations: Tuple[str, ...] = config_field(("float32", "dynamic"), help="TFLite files to write and time.",
                                                  choices=QUANTIZATIONS)
    num_eval: int = config_field(1000, help="Held-out images for accuracies and TFLite checks.", min=1)
    latency_threads: Tuple[int, ...] = config_field((1, 2), help="Interpreter threads to time.", min=1)
    latency_runs: int = config_field(30, help="Timed TFLite invokes per file and thread count.", min=1)

    def check(self):
        if not self.checkpoint.endswith(".keras"):
            self.fail("checkpoint", "not a .keras file", "pass a training/train.py run's <model_dir>/model.keras")
        if not self.checkpoint.startswith("gs://") and not os.path.exists(self.checkpoint):
            self.fail("checkpoint", "no such file", "check the path (a train.py run writes <model_dir>/model.keras)")
        if self.keep_file and not os.path.exists(self.keep_file):
            self.fail("keep_file", "no such file", "pass a JSON file of per-block index lists, or leave it unset")
