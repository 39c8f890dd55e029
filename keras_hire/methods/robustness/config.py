"""`NadarConfig`: the flags of training/nadar.py (search / retrain / evaluate), nesting the `TrainConfig`."""

import dataclasses
from typing import Optional

from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field

MODES = ("search", "retrain", "evaluate")
TRAINING_METHODS = ("pgd", "free", "clean")
AUTOATTACK_PRESETS = ("none", "fast", "standard")


def _digits_run():
    # Label smoothing off: it flattens the loss surface and makes PGD look weaker than it is.
    return TrainConfig(model="digits_cnn", label_smoothing=0.0, weight_decay=5e-4, learning_rate=2e-3, epochs=10,
                       batch_size=64, tensorboard=False)


@dataclasses.dataclass
class NadarConfig(Config):
    """A NADAR run: adversarial (re)training, evaluation under attack, and the dilation search.

    Attributes:
        train: the training run (`train.model` is the model trained in `retrain` mode, the
            backbone in `search` mode); every `TrainConfig` field is a flag.
        mode: `retrain` (adversarial training of `train.model`, e.g. a discretised hybrid),
            `evaluate` (clean, PGD and ART accuracy of `checkpoint`) or `search` (the dilation search).
        method: `pgd` (PGD-k, Madry), `free` (FreeAT) or `clean` (no attack: the clean baseline).
        epsilon, step_size, steps: the training attack (L-inf, `[0, 1]` pixels); PGD-7 by default.
        replays: FreeAT's m.
        eval_steps_pgd, eval_step_size: the evaluation attack (PGD-20).
        eval_examples: test images attacked in `evaluate` (a seeded random subset of the held-out split).
        autoattack: ART AutoAttack preset in `evaluate` (`none`, `fast`, `standard`).
        checkpoint: the `.keras` model to evaluate (default `<model_dir>/model.keras`).
        rho, flops_alpha, flops_beta, constraint, nonnegative_multipliers: the search's augmented-Lagrangian
            and FLOPs settings.
    """

    train: TrainConfig = config_field(default_factory=_digits_run, help="The training run.")
    mode: str = config_field("retrain", help="search, retrain (adversarial training) or evaluate.", choices=MODES)
    method: str = config_field("pgd", help="pgd (PGD-k, Madry), free (FreeAT) or clean.", choices=TRAINING_METHODS)
    epsilon: float = config_field(0.3, help="L-inf radius on [0, 1] pixels (MNIST 0.3, CIFAR 8/255).", min=0.0,
                                  max=1.0)
    step_size: float = config_field(0.1, help="Attack step of PGD-k training (FreeAT: its perturbation step).",
                                    greater_than=0.0, max=1.0)
    steps: int = config_field(7, help="k of PGD-k training.", min=1)
    replays: int = config_field(4, help="FreeAT's m (replays per batch).", min=1)
    random_start: bool = config_field(True, help="PGD training starts from a random point of the ball.")
    eval_steps_pgd: int = config_field(20, help="Steps of the evaluation PGD.", min=1)
    eval_step_size: float = config_field(0.03, help="Step of the evaluation PGD.", greater_than=0.0, max=1.0)
    eval_examples: int = config_field(1000, help="Test images attacked in evaluate mode.", min=1)
    autoattack: str = config_field("fast", help="ART AutoAttack preset in evaluate mode.", choices=AUTOATTACK_PRESETS)
    autoattack_examples: int = config_field(200, help="Test images given to ART AutoAttack.", min=1)
    checkpoint: Optional[str] = config_field(None, help="The .keras model to evaluate (default "
                                             "<model_dir>/model.keras).")
    rho: float = config_field(0.001, help="Augmented-Lagrangian rho of the clean constraint (paper 0.001).",
                              min=0.0)
    constraint: bool = config_field(True, help="Search with the clean-accuracy constraint (off = the ablation).")
    nonnegative_multipliers: bool = config_field(False, help="Clip the constraint's multipliers at 0 (the textbook "
                                                 "update for c <= 0; off: the official code's unclipped update).")
    flops_alpha: float = config_field(0.2, help="FLOPs factor alpha * (log FLOPs)^beta of the architecture step.",
                                      min=0.0)
    flops_beta: float = config_field(0.6, help="FLOPs factor exponent beta.", min=0.0)

    def check(self):
        if self.method == "pgd" and self.step_size * self.steps < self.epsilon:
            self.fail("step_size", f"{self.steps} steps of {self.step_size} cannot reach the ball's edge "
                      f"{self.epsilon}", "raise --step_size to about 2.5 * epsilon / steps")
