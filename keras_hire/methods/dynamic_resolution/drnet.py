"""DRNet's two trainable models on the shared trainer, and its per-image inference.

- `MultiResolutionClassifier` (stage 1): the classifier at every candidate resolution, summed
  cross-entropies, each resolution through its own BatchNorm set.
- `DRNet` (stage 2 and inference): predictor -> Gumbel choice -> each image classified at its
  chosen resolution only. A batch is split by the choice, so each BatchNorm set sees only its own
  images; the logits are scaled by the (straight-through) one-hot so the loss reaches the predictor.
  Loss: CE + eta * flops_loss. The predictor's learning rate is `predictor_lr_scale` x the run's.

Both take images at the largest resolution and resize them (bilinear) themselves.
"""

import keras
import numpy as np
from keras import ops

from keras_hire.methods.dynamic_resolution.costs import flops_loss
from keras_hire.methods.dynamic_resolution.selection import gumbel_select
from keras_hire.training.replicas import per_replica_loss


def resize(images, size):
    """Bilinear resize to `size`x`size` (TFLite RESIZE_BILINEAR); a no-op at the images' own size."""
    if tuple(images.shape[1:3]) == (size, size):
        return images
    return ops.image.resize(images, (size, size), interpolation="bilinear", antialias=False)


def _cross_entropy(labels, logits, label_smoothing):
    return ops.mean(keras.losses.categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True, label_smoothing=label_smoothing))


@keras.saving.register_keras_serializable(package="keras_hire")
class MultiResolutionClassifier(keras.Model):
    """Stage 1: `call` gives the logits at the largest resolution (what the metrics see); the loss is
    the sum of the cross-entropies at every resolution (the paper's stage 1)."""

    def __init__(self, classifier, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.label_smoothing = float(label_smoothing)
        self.branches = [classifier.classifier_at(i) for i in range(len(classifier.resolutions))]

    def call(self, images, training=False):
        return self.branches[0](resize(images, self.classifier.resolutions[0]), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = _cross_entropy(y, y_pred, self.label_smoothing)
        for size, branch in zip(self.classifier.resolutions[1:], self.branches[1:]):
            total = total + _cross_entropy(y, branch(resize(x, size), training=training), self.label_smoothing)
        return per_replica_loss(total)


@keras.saving.register_keras_serializable(package="keras_hire")
class DRNet(keras.Model):
    """The dynamic-resolution network: `predictor` chooses, `classifier` (a `DRResNet`) classifies.

    Args:
        classifier: a `DRResNet`.
        predictor: a model from a `predictor_size` image to `len(resolutions)` logits.
        costs: MACs per image at each resolution, predictor included (`resolution_costs`).
        target: the average MACs the FLOPs loss allows (alpha); `None` for no constraint.
        eta: weight of the FLOPs loss.
        temperature: Gumbel-softmax temperature of the straight-through gradient.
        label_smoothing: of the cross-entropy.
        predictor_lr_scale: the predictor's learning rate relative to the classifier's (paper 0.1).
        seed: the Gumbel noise seed.

    `call(images)` returns the logits; `infer(images)` also the chosen resolution and the MACs
    spent per image (the numbers a deployment sees). Images come at the largest resolution.
    """

    def __init__(self, classifier, predictor, costs, target=None, eta=0.2, temperature=1.0, label_smoothing=0.0,
                 predictor_lr_scale=0.1, seed=0, **kwargs):
        super().__init__(**kwargs)
        if len(costs) != len(classifier.resolutions):
            raise ValueError(f"DRNet: {len(costs)} costs for {len(classifier.resolutions)} resolutions "
                             f"{classifier.resolutions}; give one cost per resolution.")
        if predictor.outputs[0].shape[-1] != len(classifier.resolutions):
            raise ValueError(f"DRNet: the predictor has {predictor.outputs[0].shape[-1]} outputs but the classifier "
                             f"has {len(classifier.resolutions)} resolutions {classifier.resolutions}.")
        self.classifier, self.predictor = classifier, predictor
        self.costs = [float(c) for c in costs]
        self.target = None if target is None else float(target)
        self.eta, self.temperature = float(eta), float(temperature)
        self.label_smoothing, self.predictor_lr_scale = float(label_smoothing), float(predictor_lr_scale)
        self.resolutions = tuple(classifier.resolutions)
        self.predictor_size = int(predictor.inputs[0].shape[1])
        self.branches = [classifier.classifier_at(i) for i in range(len(self.resolutions))]
        self._seed_generator = keras.random.SeedGenerator(seed)
        self.seed_state = self._seed_generator.state  # saved with the weights: a resumed run draws the same noise
        self.macs_tracker = keras.metrics.Mean(name="macs")
        self.flops_loss_tracker = keras.metrics.Mean(name="flops_loss")
        self._choices = None

    def choose(self, images, training=False):
        """`(batch, m)` one-hot choices (straight-through in training)."""
        logits = self.predictor(resize(images, self.predictor_size), training=training)
        return gumbel_select(logits, training=training, temperature=self.temperature, seed=self._seed_generator)

    def call(self, images, training=False):
        import tensorflow as tf  # the per-resolution split needs dynamic shapes and tf.cond

        choices = self.choose(images, training=training)
        self._choices = choices
        chosen = tf.argmax(choices, axis=-1, output_type=tf.int32)
        batch = tf.shape(images)[0]
        num_classes = self.classifier.num_classes
        logits = tf.zeros((batch, num_classes), tf.float32)
        for index, (size, branch) in enumerate(zip(self.resolutions, self.branches)):
            positions = tf.where(tf.equal(chosen, index))[:, 0]

            def classify(positions=positions, size=size, branch=branch, index=index):
                part = branch(resize(tf.gather(images, positions), size), training=training)
                gate = tf.gather(choices[:, index], positions)[:, None]  # 1 forward, Gumbel-softmax backward
                part = tf.cast(part, tf.float32) * gate
                return tf.scatter_nd(positions[:, None], part, tf.stack([tf.cast(batch, tf.int64), num_classes]))

            # An empty group skips its branch: a convolution of an empty batch is not safe on every kernel.
            logits += tf.cond(tf.size(positions) > 0, classify, lambda: tf.zeros_like(logits))
        return logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        choices = self._choices
        macs = ops.sum(choices * ops.convert_to_tensor(np.asarray(self.costs, np.float32))[None, :], axis=-1)
        self.macs_tracker.update_state(ops.stop_gradient(macs))
        total = _cross_entropy(y, y_pred, self.label_smoothing)
        if self.target is not None:
            penalty = flops_loss(choices, self.costs, self.target)
            self.flops_loss_tracker.update_state(penalty)
            total = total + self.eta * penalty
        return per_replica_loss(total)

    def compile(self, optimizer="adam", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        scale_learning_rate(self.optimizer, self.predictor.trainable_variables, self.predictor_lr_scale)

    def reset_metrics(self):
        super().reset_metrics()
        self.macs_tracker.reset_state()
        self.flops_loss_tracker.reset_state()

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "classifier": keras.saving.serialize_keras_object(self.classifier),
                "predictor": keras.saving.serialize_keras_object(self.predictor), "costs": self.costs,
                "target": self.target, "eta": self.eta, "temperature": self.temperature,
                "label_smoothing": self.label_smoothing, "predictor_lr_scale": self.predictor_lr_scale}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("classifier", "predictor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def infer(self, images, batch_size=64):
        """`{"logits", "resolution", "macs"}` per image, each image run only at its chosen resolution."""
        images = np.asarray(images, np.float32)
        out = {"logits": [], "resolution": [], "macs": []}
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            chosen = np.argmax(ops.convert_to_numpy(self.choose(batch)), axis=-1)
            logits = np.zeros((len(batch), self.classifier.num_classes), np.float32)
            for index, (size, branch) in enumerate(zip(self.resolutions, self.branches)):
                rows = np.flatnonzero(chosen == index)
                if rows.size:
                    logits[rows] = ops.convert_to_numpy(branch(resize(batch[rows], size), training=False))
            out["logits"].append(logits)
            out["resolution"].append(np.asarray(self.resolutions)[chosen])
            out["macs"].append(np.asarray(self.costs)[chosen])
        return {key: np.concatenate(value) for key, value in out.items()}


def scale_learning_rate(optimizer, variables, factor):
    """Makes `optimizer` step `variables` with `factor` x its learning rate (the others unchanged).

    Wraps the optimizer's `update_step`, which every Keras optimizer calls once per variable with
    the current learning rate, so the moments and the schedule stay the optimizer's own; the
    decoupled weight decay of AdamW is applied at the full rate.
    """
    if factor == 1.0:
        return optimizer
    keys = {optimizer._var_key(v) for v in variables}  # pylint: disable=protected-access
    original = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        if optimizer._var_key(variable) in keys:  # pylint: disable=protected-access
            learning_rate = learning_rate * factor
        return original(gradient, variable, learning_rate)

    optimizer.update_step = update_step
    return optimizer
