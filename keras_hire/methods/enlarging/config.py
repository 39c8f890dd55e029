"""`EnlargeConfig`: a greedy network-enlarging run (the flags of training/enlarge.py), nesting `TrainConfig`."""

import dataclasses
from typing import Optional, Tuple

from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field

BASELINES = ("compound", "width")
DEFAULT_TRIAL = "keras_hire.methods.enlarging.trials.run_trial"  # the proxy training on the shared trainer
# Fields that may change when a search resumes: they do not change what the recorded trials measured.
RESUMABLE_CHANGES = ("workers", "storage", "final_epochs", "seeds", "baselines", "train.verbose")


@dataclasses.dataclass
class EnlargeConfig(Config):
    """A greedy enlarging run: grow `base` to `target_macs`, then train it and the baselines.

    Attributes:
        train: data, optimizer and `model_dir` of every training (proxy and final); its
            `model_kwargs` override the base's constructor arguments (e.g. `stage_channels`),
            `image_size` is the base resolution, `eval_split` the split candidates are judged on.
            `--model` is not used (`--base` names the network).
        base: the GhostNet registry name to start from.
        target_macs: the MAC budget to grow to.
        increment: MACs each step adds, as a fraction of the base's MACs.
        proxy_epochs: epochs of each candidate's short training.
        final_epochs, seeds, final_eval_split: the final trainings of the searched model and the
            baselines (one per seed), judged on `final_eval_split`.
        baselines: scaling rules brought to the searched model's MACs.
        compound_coefficients: EfficientNet's (alpha, beta, gamma) for depth, width, resolution.
        stages: the stages whose depth and width the search may grow (fewer: fewer trials per step).
        max_depth, max_channels, max_resolution: limits of the search space.
        workers: parallel worker processes per step (Optuna study on `storage`).
        trial_function: what a worker runs per candidate (a plug point, e.g. a cheaper proxy).
        storage: Optuna storage: an RDB URL (`sqlite:///s.db`, `postgresql://...`) or a journal
            file path; default `<model_dir>/search/optuna.journal`.
    """

    train: TrainConfig = config_field(
        default_factory=lambda: TrainConfig(model="ghostnet_100", dataset="mnist_5k_val", eval_split="val"),
        help="Every training of the run (data, optimizer, model_dir); eval_split judges the candidates.")
    base: str = config_field("ghostnet_100", help="GhostNet registry name to enlarge (see list_models('ghostnet')).")
    target_macs: Optional[float] = config_field(None, help="MAC budget to grow to (e.g. 4x the base's MACs).",
                                                required=True, fix="pass --target_macs=<MACs>, e.g. 4 times the "
                                                "base's keras_hire.utils.count_macs", greater_than=0.0)
    increment: float = config_field(0.5, help="MACs one step adds, as a fraction of the base's MACs.",
                                    greater_than=0.0)
    proxy_epochs: int = config_field(1, help="Epochs of each candidate's proxy training.", min=1)
    final_epochs: int = config_field(10, help="Epochs of each final training (0: none).", min=0)
    seeds: Tuple[int, ...] = config_field((0, 1, 2), help="Seeds of the final trainings.", min=0)
    final_eval_split: Optional[str] = config_field("test", help="Split the final trainings are judged on.")
    baselines: Tuple[str, ...] = config_field(BASELINES, help="Scaling baselines at the searched model's MACs.",
                                              choices=BASELINES)
    compound_coefficients: Tuple[float, ...] = config_field((1.2, 1.1, 1.15), help="EfficientNet's alpha, beta, "
                                                            "gamma (depth, width, resolution).", greater_than=0.0)
    stages: Tuple[int, ...] = config_field((0, 1, 2, 3, 4, 5), help="Stages whose depth and width may grow.",
                                           min=0, max=5)
    max_depth: int = config_field(16, help="Most blocks a stage may grow to.", min=1)
    max_channels: int = config_field(1024, help="Most channels a stage may grow to.", min=4)
    max_resolution: int = config_field(512, help="Largest input side the search may use.", min=32)
    workers: int = config_field(1, help="Worker processes that train a step's candidates in parallel.", min=1)
    trial_function: str = config_field(DEFAULT_TRIAL, help="Dotted path of the function that trains and records "
                                       "one candidate: fn(config, step, key, state, num_classes) -> record.")
    storage: Optional[str] = config_field(None, help="Optuna storage URL or journal file (default "
                                          "<model_dir>/search/optuna.journal).")

    def check(self):
        if len(self.compound_coefficients) != 3:
            self.fail("compound_coefficients", "needs three values", "pass alpha,beta,gamma, e.g. 1.2,1.1,1.15")
        if not self.seeds:
            self.fail("seeds", "is empty", "pass at least one seed, e.g. --seeds=0")
