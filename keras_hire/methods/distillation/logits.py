"""Logit distillation: soft (tau^2 KL of the tempered distributions) and hard (CE on the teacher's argmax).

Both follow the official `DistillationLoss` (DeiT's, kept by ManifoldKD): the soft term is
`F.kl_div(log_softmax(z_s / tau), log_softmax(z_t / tau), reduction="batchmean", log_target=True) * tau^2`,
the hard term `F.cross_entropy(z_s, z_t.argmax(1))`. They are also `keras.distillation.DistillationLoss`
subclasses, so the stock `keras.distillation.Distiller` can use them on final logits.
"""

import keras
from keras import ops


def soft_distillation_loss(student_logits, teacher_logits, temperature=1.0):
    """tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau)), summed over classes, mean over the batch.

    Computed from log-softmaxes (no probability clipping), in float32.

    Example:
    ```python
    loss = soft_distillation_loss(student(images), teacher(images), temperature=1.0)
    ```
    """
    if temperature <= 0:
        raise ValueError(f"soft_distillation_loss: temperature={temperature}; must be > 0. Fix: use e.g. 1.0.")
    student_log = ops.log_softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    teacher_log = ops.log_softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    per_example = ops.sum(ops.exp(teacher_log) * (teacher_log - student_log), axis=-1)
    return ops.mean(per_example) * (temperature * temperature)


def hard_distillation_loss(student_logits, teacher_logits):
    """Cross-entropy of the student logits against the teacher's argmax class (DeiT's hard distillation).

    Example:
    ```python
    loss = hard_distillation_loss(student_dist_logits, teacher(images))
    ```
    """
    student_log = ops.log_softmax(ops.cast(student_logits, "float32"), axis=-1)
    target = ops.one_hot(ops.argmax(teacher_logits, axis=-1), student_log.shape[-1], dtype="float32")
    return -ops.mean(ops.sum(target * student_log, axis=-1))


class SoftDistillation(keras.distillation.DistillationLoss):
    """`soft_distillation_loss` as a `keras.distillation.DistillationLoss`.

    Args:
        temperature: tau (the paper's 1.0).

    Example:
    ```python
    distiller = keras.distillation.Distiller(teacher, student, SoftDistillation(1.0), student_loss_weight=0.0)
    ```
    """

    def __init__(self, temperature=1.0):
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
            raise ValueError(f"SoftDistillation: temperature={temperature!r}; must be a number > 0. Fix: use 1.0.")
        self.temperature = float(temperature)

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return soft_distillation_loss(student_outputs, teacher_outputs, self.temperature)

    def get_config(self):
        return {"temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class HardDistillation(keras.distillation.DistillationLoss):
    """`hard_distillation_loss` as a `keras.distillation.DistillationLoss`.

    Example:
    ```python
    distiller = keras.distillation.Distiller(teacher, student, HardDistillation(), student_loss_weight=0.5)
    ```
    """

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return hard_distillation_loss(student_outputs, teacher_outputs)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
