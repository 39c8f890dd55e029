"""Adversarial training as a model plugged into the shared trainer: PGD-k (Madry et al.) and FreeAT.

`AdversarialTraining` wraps the model being trained. The trainer feeds it normalised batches (as
any run); the wrapper turns them back into `[0, 1]` pixels with the data's statistics, attacks in
pixel space, and fits the inner model on the normalised adversarial batch:

- `method="pgd"`: each batch is replaced by its PGD-k adversarial version (random start, the
  model in inference mode while attacking), then one ordinary optimizer step (Madry's PGD-7).
- `method="free"`: FreeAT (Shafahi et al. 2019): each batch is replayed `replays` times; every
  replay is one backward pass that gives the weight gradient (one optimizer step) and the input
  gradient, which moves a persistent perturbation `delta <- clip(delta + step * sign(g), -eps,
  eps)` carried to the next replay and the next batch. The learning-rate schedule is stretched so
  that it still ends with the run (it advances once per batch, not per replay).

Under several replicas FreeAT's delta is a mirrored variable, so its update is averaged over the
replicas (each replica then carries the mean perturbation); on one device it is the paper's.
Checkpoints hold the inner model, the optimizer (whose step seeds the random starts) and FreeAT's delta, so a
killed run resumes where it stopped.
"""

import keras

from keras_hire.methods.robustness.attacks import perturb
from keras_hire.methods.robustness.checks import check_attack_arguments
from keras_hire.methods.robustness.pixels import pixel_stats
from keras_hire.training.replicas import global_loss

METHODS = ("pgd", "free")


class ReplayedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule(step // replays)`: a per-batch schedule under FreeAT's `replays` steps per batch."""

    def __init__(self, schedule, replays):
        self.schedule, self.replays = schedule, int(replays)

    def __call__(self, step):
        return self.schedule(keras.ops.floor_divide(step, self.replays))

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "replays": self.replays}


class AdversarialTraining(keras.Model):
    """Trains `inner` on adversarial examples; `call` is `inner` (clean evaluation stays the trainer's).

    Args:
        inner: the functional model to train (on normalised inputs, as the pipeline feeds it).
        mean, std: the data's per-channel normalisation on the 0-255 scale (`ImageSource.mean/std`).
        method: `"pgd"` (PGD-k) or `"free"` (FreeAT).
        epsilon: L-inf radius on the `[0, 1]` pixel scale (0.3 for MNIST, 8/255 for CIFAR).
        step_size: PGD step, or FreeAT's perturbation step (Shafahi et al. use `epsilon`).
        steps: PGD-k's k (ignored by FreeAT).
        replays: FreeAT's m, replays per batch (ignored by PGD).
        random_start: PGD starts from a uniform point of the ball (Madry).
        replica_batch: per-replica batch size (FreeAT's delta has one slot per image).
        seed: seed of the random starts.
    """

    def __init__(self, inner, mean, std, method="pgd", epsilon=0.3, step_size=0.01, steps=7, replays=4,
                 random_start=True, replica_batch=None, seed=0, name="adversarial_training", **kwargs):
        super().__init__(name=name, **kwargs)
        if method not in METHODS:
            raise ValueError(f"method={method!r}: unknown. Fix: use 'pgd' (PGD-k, Madry) or 'free' (FreeAT).")
        check_attack_arguments(epsilon, step_size, steps)
        if method == "free" and (int(replays) < 1 or not replica_batch):
            raise ValueError(f"FreeAT needs replays >= 1 (got {replays}) and the per-replica batch size (got "
                             f"{replica_batch}) for its persistent perturbation. Fix: pass both.")
        self.inner, self.method = inner, method
        self.epsilon, self.step_size, self.steps = float(epsilon), float(step_size), int(steps)
        self.replays, self.random_start = int(replays), bool(random_start)
        channels = int(inner.input_shape[-1])
        mean, std = pixel_stats(mean, std, channels)
        self.pixel_mean, self.pixel_std = mean.tolist(), std.tolist()
        self.seed = int(seed)
        self.delta = None
        if method == "free":
            self.delta = self.add_weight(shape=(int(replica_batch),) + tuple(inner.input_shape[1:]),
                                         initializer="zeros", trainable=False, name="free_delta",
                                         aggregation="mean")

    def call(self, images, training=False):
        return self.inner(images, training=training)

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        optimizer = keras.optimizers.get(optimizer)
        schedule = optimizer._learning_rate if hasattr(optimizer, "_learning_rate") else None
        if self.method == "free" and isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            optimizer.learning_rate = ReplayedSchedule(schedule, self.replays)
        super().compile(optimizer, *args, **kwargs)

    def _stats(self):
        return (keras.ops.convert_to_tensor(self.pixel_mean, "float32"),
                keras.ops.convert_to_tensor(self.pixel_std, "float32"))

    def to_pixels(self, normalized):
        mean, std = self._stats()
        return keras.ops.clip(keras.ops.cast(normalized, "float32") * std + mean, 0.0, 1.0)

    def normalize(self, pixels):
        mean, std = self._stats()
        return (keras.ops.cast(pixels, "float32") - mean) / std

    def pixel_logits(self, pixels, training=False):
        return self.inner(self.normalize(pixels), training=training)

    def attack(self, normalized, labels):
        """PGD-k adversarial pixels of a normalised batch (labels one-hot or ids)."""
        ids = labels if len(labels.shape) == 1 else keras.ops.argmax(labels, axis=-1)
        return perturb(self.pixel_logits, self.to_pixels(normalized), ids, self.epsilon, self.step_size,
                       self.steps, random_start=self.random_start, noise_seed=self._noise_seed())

    def _noise_seed(self):
        # A function of the optimizer step (checkpointed), so a resumed run draws the same starts.
        step = self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0
        return keras.ops.stack([keras.ops.convert_to_tensor(self.seed, "int32"), keras.ops.cast(step, "int32")])

    def train_step(self, data):
        x, y = data[0], data[1]
        if self.method == "pgd":
            return super().train_step((self.normalize(self.attack(x, y)), y))
        return self._free_step(x, y)

    def _free_step(self, x, y):
        import tensorflow as tf

        pixels = self.to_pixels(x)
        count = tf.shape(pixels)[0]
        delta = self.delta.value[:count]
        for _ in range(self.replays):
            with tf.GradientTape() as tape:
                tape.watch(delta)
                y_pred = self.inner(self.normalize(tf.clip_by_value(pixels + delta, 0.0, 1.0)), training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
                scaled = self.optimizer.scale_loss(loss)
            weights = self.trainable_weights
            gradients = tape.gradient(scaled, weights + [delta])
            self.optimizer.apply_gradients(zip(gradients[:-1], weights))
            delta = tf.clip_by_value(delta + self.step_size * tf.sign(gradients[-1]), -self.epsilon, self.epsilon)
        self.delta.assign(tf.concat([delta, self.delta.value[count:]], 0))
        # Keras' own train_step tracks the loss this way; the trainer's reports read it.
        self._loss_tracker.update_state(global_loss(loss), sample_weight=count)
        return self.compute_metrics(x, y, y_pred)
