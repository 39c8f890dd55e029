"""Linear warmup then cosine decay, per step (the timm/DeiT schedule, stepped per batch)."""

import math

import keras


@keras.saving.register_keras_serializable(package="keras_hire")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """`warmup_lr -> peak_lr` linearly over `warmup_steps`, then cosine down to `min_lr` at `total_steps`.

    Args:
        peak_lr: learning rate at the end of warmup.
        total_steps: steps of the whole run.
        warmup_steps: steps of the linear warmup (0 for none).
        warmup_lr: learning rate at step 0.
        min_lr: learning rate at `total_steps` and after.
    """

    def __init__(self, peak_lr, total_steps, warmup_steps=0, warmup_lr=1e-6, min_lr=1e-5):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"WarmupCosine needs 0 <= warmup_steps <= total_steps and total_steps >= 1; "
                f"received warmup_steps={warmup_steps}, total_steps={total_steps}."
            )
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_lr = float(warmup_lr)
        self.min_lr = float(min_lr)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = max(self.warmup_steps, 1)
        warm = self.warmup_lr + (self.peak_lr - self.warmup_lr) * step / warmup
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = keras.ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "warmup_lr": self.warmup_lr, "min_lr": self.min_lr}
