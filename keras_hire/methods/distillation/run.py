"""`distill(config)`: a distillation run on the shared trainer (the whole of training/distill.py)."""

import os

import keras

from keras_hire.methods.distillation.config import DistillConfig
from keras_hire.methods.distillation.distiller import ManifoldDistiller
from keras_hire.methods.distillation.teacher import load_teacher
from keras_hire.utils.atomic import atomic_write_text

DISTILL_CONFIG = "distill_config.json"  # the whole DistillConfig: --config=<model_dir>/distill_config.json


def build_distiller(config: DistillConfig, student, teacher, replica_batch=None):
    """The `ManifoldDistiller` a config describes; checks K against the per-replica batch's tokens."""
    distiller = ManifoldDistiller(
        teacher, student, kd="hard" if config.distillation == "hard" else "soft",
        manifold=config.distillation == "manifold", alpha=config.alpha, beta=config.beta, temperature=config.tau,
        w_sample=config.w_sample, w_patch=config.w_patch, w_rand=config.w_rand, num_samples=config.num_samples,
        student_layers=config.student_layers, teacher_layers=config.teacher_layers, seed=config.train.seed)
    if replica_batch and distiller.pairs:
        tokens = min(_token_count(pair) for pair in distiller.pairs)
        if config.num_samples > replica_batch * tokens:
            raise ValueError(f"num_samples K={config.num_samples} is larger than the per-replica batch * tokens = "
                             f"{replica_batch} * {tokens} = {replica_batch * tokens} of the random manifold term. Fix: "
                             f"--num_samples<={replica_batch * tokens}, or a larger --batch_size.")
    return distiller


def _token_count(pair):
    grid = pair.teacher.grid
    return grid[0] * grid[1] // (pair.teacher_merge ** 2)


def distill(config: DistillConfig, strategy=None):
    """Trains `config.train.model` from the teacher; `model.keras` is the student alone.

    `distillation="none"` trains the student alone (the no-teacher baseline of the same budget).
    Resume, strategies, mixed precision, reports and curves are the shared trainer's. Besides the
    trainer's `config.json` (the student's `TrainConfig`), `<model_dir>/distill_config.json` holds
    the whole `DistillConfig`, reusable as `training/distill.py --config=...`.

    Example:
    ```python
    report = distill(DistillConfig(train=TrainConfig(model="deit_tiny", model_dir="runs/kd"),
                                   teacher_checkpoint="runs/teacher/model.keras"))
    ```
    """
    from keras_hire.training import build_model, is_chief, train

    if config.distillation == "none":
        return train(config.train, strategy)

    def build(train_config, num_classes, input_shape):
        if is_chief() and not train_config.eval_only:  # config.json is the student's; this one reloads the run
            os.makedirs(train_config.model_dir, exist_ok=True)
            atomic_write_text(os.path.join(train_config.model_dir, DISTILL_CONFIG), config.to_json())
        student = build_model(train_config, num_classes, input_shape)
        teacher = load_teacher(config.teacher_checkpoint, num_classes, input_shape, config.teacher,
                               config.teacher_kwargs)
        return build_distiller(config, student, teacher, _replica_batch(train_config.batch_size))

    return train(config.train, strategy, build_model=build, deployable=lambda distiller: distiller.student)


def _replica_batch(batch_size):
    if keras.backend.backend() != "tensorflow":
        return batch_size
    import tensorflow as tf

    return batch_size // tf.distribute.get_strategy().num_replicas_in_sync
