"""`DistillConfig`: a distillation run (the flags of training/distill.py), nesting the `TrainConfig`."""

import dataclasses
import os
from typing import Optional, Tuple

from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field

DISTILLATIONS = ("none", "soft", "hard", "manifold")
KERAS_SUFFIXES = (".keras",)
PYTORCH_SUFFIXES = (".pth", ".pt", ".npz", ".safetensors", ".bin")


@dataclasses.dataclass
class DistillConfig(Config):
    """A distillation run: the student's `TrainConfig` (`train.model` is the student) and the teacher.

    Defaults are the paper's command (`--distillation-type soft --distillation-alpha 1
    --distillation-beta 1 --w-sample 0.1 --w-patch 4 --w-rand 0.2 --K 192`, tau 1).

    Attributes:
        train: the student's training run; every `TrainConfig` field is a flag.
        distillation: `none` (student alone), `soft` (tau^2 KL), `hard` (CE on the teacher's
            argmax; DeiT), `manifold` (soft KD + the manifold terms, the paper).
        teacher: registry name of the teacher; needed for an official `.pth` checkpoint, and when
            given with a `.keras` file it must match the file's model.
        teacher_kwargs: constructor overrides of the teacher (with a `.pth` checkpoint).
        teacher_checkpoint: the trained teacher: a `.keras` file (e.g. a `training/train.py`
            run's `model.keras`) or an official `.pth`.
        student_layers, teacher_layers: tap indices paired in order (blocks of token models,
            stages of CNN/MLP models); both empty = the paper's first-4/last-4 pattern.
        alpha, beta, tau, w_sample, w_patch, w_rand, num_samples: the objective's weights.
    """

    train: TrainConfig = config_field(default_factory=lambda: TrainConfig(model="deit_tiny"),
                                      help="The student's training run.")
    distillation: str = config_field("manifold", help="none (student alone), soft (KL), hard (teacher argmax, DeiT) "
                                     "or manifold (soft + manifold terms, the paper).", choices=DISTILLATIONS)
    teacher: Optional[str] = config_field(None, help="Teacher registry name (needed with a .pth checkpoint; checked "
                                          "against a .keras file).")
    teacher_kwargs: dict = config_field(default_factory=dict, help="Teacher constructor overrides (with a .pth "
                                        "checkpoint).")
    teacher_checkpoint: Optional[str] = config_field(None, help="Trained teacher: a .keras file (a train.py run's "
                                                     "model.keras) or an official .pth.")
    student_layers: Tuple[int, ...] = config_field((), help="Student tap indices (blocks; stages for CNN/MLP), "
                                                   "paired in order with --teacher_layers; empty = paper pattern.",
                                                   min=0)
    teacher_layers: Tuple[int, ...] = config_field((), help="Teacher tap indices (blocks; stages for CNN/MLP); "
                                                   "CaiT-S24 default 0,1,2,3,20,21,22,23.", min=0)
    alpha: float = config_field(1.0, help="KD weight; CE gets 1 - alpha (paper: 1).", min=0.0, max=1.0)
    beta: float = config_field(1.0, help="Manifold term weight (paper: 1).", min=0.0)
    tau: float = config_field(1.0, help="Soft-KD temperature (paper: 1).", greater_than=0.0)
    w_sample: float = config_field(0.1, help="Weight of the inter-image (sample) manifold term.", min=0.0)
    w_patch: float = config_field(4.0, help="Weight of the intra-image (patch) manifold term.", min=0.0)
    w_rand: float = config_field(0.2, help="Weight of the randomly sampled manifold term.", min=0.0)
    num_samples: int = config_field(192, help="K, tokens drawn for the random term (<= per-replica batch * "
                                    "tokens).", min=1)

    def check(self):
        if self.distillation == "none":
            return
        path = self.teacher_checkpoint
        if not path:
            self.fail("teacher_checkpoint", f"distillation={self.distillation!r} needs a trained teacher",
                      "train one first (training/train.py) and pass --teacher_checkpoint=<run>/model.keras, or an "
                      "official .pth with --teacher=<registry name>")
        if not path.endswith(KERAS_SUFFIXES + PYTORCH_SUFFIXES):
            self.fail("teacher_checkpoint", "not a .keras file nor a PyTorch checkpoint (.pth/.pt/.npz/.safetensors)",
                      "pass a .keras file or an official .pth")
        if not path.startswith("gs://") and not os.path.exists(path):
            self.fail("teacher_checkpoint", "no such file", "check the path (a train.py run writes <model_dir>/"
                      "model.keras)")
        if path.endswith(PYTORCH_SUFFIXES) and not self.teacher:
            self.fail("teacher", "a PyTorch checkpoint needs the teacher's architecture",
                      "pass --teacher=<registry name>, e.g. cait_s24")
        if len(self.student_layers) != len(self.teacher_layers):
            self.fail("teacher_layers", f"{len(self.teacher_layers)} teacher layers for {len(self.student_layers)} "
                      f"student layers {list(self.student_layers)}", "give as many --teacher_layers as "
                      "--student_layers (pair i with i), or leave both empty for the paper's pattern")
        if self.student_layers and self.distillation != "manifold":
            self.fail("student_layers", f"layer pairs are only used by distillation='manifold', not "
                      f"{self.distillation!r}", "drop --student_layers/--teacher_layers or use --distillation=manifold")
