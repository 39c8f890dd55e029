"""FGSM and PGD (L-inf and L2, optional random start, optional targeted) on any Keras model.

Images are float pixels in `[0, 1]` and the model maps them to logits (wrap a model trained on
normalised inputs with `with_normalization`). One PGD step is what ART's
`ProjectedGradientDescent` does, in the same order, so the two agree on the same model:

    x <- clip(x + step_size * direction(grad of CE), 0, 1);  x <- x0 + project_epsilon(x - x0)

with `direction = sign(g)` for L-inf and `g / ||g||_2` for L2, the gradient negated for a
targeted attack (which lowers the loss of the target class). `perturb` is the graph-level core
that adversarial training calls inside its train step; `pgd`/`fgsm` batch it over numpy arrays.
"""

import dataclasses
import time

import keras
import numpy as np

from keras_hire.methods.robustness.checks import (
    check_attack_arguments,
    check_labels,
    check_logits_model,
    check_pixel_images,
)


def perturb(logits_fn, images, labels, epsilon, step_size, steps, norm="linf", random_start=False, targeted=False,
            noise_seed=None, start=None):
    """Adversarial images for one batch, as TensorFlow ops (usable inside a compiled train step).

    Args:
        logits_fn: `logits_fn(images) -> logits` on `[0, 1]` pixels.
        images: float32 `(N, H, W, C)` clean pixels.
        labels: int32 `(N,)` true classes (untargeted) or target classes (`targeted=True`).
        epsilon, step_size: the ball radius and step length on the pixel scale.
        steps: gradient steps (a Python int or a scalar tensor).
        norm: `"linf"` or `"l2"`.
        random_start: start from a uniform draw in the epsilon ball (needs `noise_seed`).
        noise_seed: the random start's stateless seed, two integers (a function of the step, so
            that a resumed run draws what the uninterrupted one would).
        start: optional starting images (e.g. a persisted perturbation), instead of `images`.
    """
    import tensorflow as tf

    x0 = tf.convert_to_tensor(images, tf.float32)
    labels = tf.cast(labels, tf.int32)
    x = x0 if start is None else tf.convert_to_tensor(start, tf.float32)
    if random_start:
        x = tf.clip_by_value(x + random_in_ball(tf.shape(x0), epsilon, norm, noise_seed), 0.0, 1.0)
    sign = -1.0 if targeted else 1.0

    def step(i, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(logits_fn(x), tf.float32)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grad = sign * tape.gradient(loss, x)
        x = tf.clip_by_value(x + step_size * direction(grad, norm), 0.0, 1.0)
        return i + 1, x0 + project(x - x0, epsilon, norm)

    _, x = tf.while_loop(lambda i, x: i < steps, step, (tf.constant(0), x))
    return tf.stop_gradient(x)


def direction(grad, norm):
    """The steepest-ascent unit step: sign for L-inf, the L2-normalised gradient for L2 (0 where g = 0)."""
    import tensorflow as tf

    if norm == "linf":
        return tf.sign(grad)
    norms = _per_example_norm(grad)
    return grad * tf.math.divide_no_nan(1.0, norms)


def project(delta, epsilon, norm):
    """Projects each perturbation onto the epsilon ball of `norm` (ART's projection)."""
    import tensorflow as tf

    if norm == "linf":
        return tf.clip_by_value(delta, -epsilon, epsilon)
    norms = _per_example_norm(delta)
    return delta * tf.minimum(1.0, tf.math.divide_no_nan(tf.cast(epsilon, delta.dtype), norms))


def random_in_ball(shape, epsilon, norm, noise_seed):
    """Uniform draws in the L-inf cube, or uniform in the L2 ball (Gaussian direction, radius eps * u^(1/d))."""
    import tensorflow as tf

    if noise_seed is None:
        raise ValueError("random_start=True needs noise_seed, two integers (e.g. [seed, step]).")
    seed = tf.cast(noise_seed, tf.int32)
    if norm == "linf":
        return tf.random.stateless_uniform(shape, seed, -epsilon, epsilon)
    gaussian = tf.random.stateless_normal(shape, seed)
    unit = gaussian * tf.math.divide_no_nan(1.0, _per_example_norm(gaussian))
    dims = tf.cast(tf.reduce_prod(shape[1:]), tf.float32)
    radius = epsilon * tf.random.stateless_uniform(tf.stack([shape[0], 1, 1, 1]), seed + 1) ** (1.0 / dims)
    return unit * radius


def _per_example_norm(values):
    import tensorflow as tf

    return tf.sqrt(tf.reduce_sum(tf.square(values), axis=[1, 2, 3], keepdims=True))


def pgd(model, images, labels, epsilon, step_size, steps, random_start=False, *, norm="linf", targeted=False,
        batch_size=256, seed=0, verbose=0):
    """Projected gradient descent (Madry et al.); returns the adversarial images as float32 numpy.

    Args:
        model: a Keras model mapping `[0, 1]` pixels to logits.
        images: `(N, H, W, C)` float pixels in `[0, 1]`.
        labels: `(N,)` class ids (or one-hot rows): the true classes, or the targets when `targeted`.
        epsilon: radius of the L-inf (or L2) ball, on the pixel scale (MNIST 0.3, CIFAR 8/255).
        step_size: length of one step (e.g. 2.5 * epsilon / steps).
        steps: gradient steps (PGD-20: 20).
        random_start: start from a uniform point of the ball instead of the clean image.
        norm: `"linf"` (default) or `"l2"`.
        targeted: move towards `labels` instead of away from them.
        batch_size: images per gradient batch.
        seed: seed of the random start.
        verbose: 1 prints a progress bar over batches.

    Example:
    ```python
    adversarial = pgd(model, test_images, test_labels, epsilon=0.3, step_size=0.01, steps=40)
    ```
    """
    check_attack_arguments(epsilon, step_size, steps, norm)
    images = check_pixel_images(images)
    num_classes = check_logits_model(model, images[:1])
    labels = check_labels(labels, len(images), num_classes)
    return _run_batches(model, images, labels, dict(epsilon=float(epsilon), step_size=float(step_size),
                        steps=int(steps), norm=norm, random_start=random_start, targeted=targeted),
                        batch_size, seed, verbose)


def fgsm(model, images, labels, epsilon, *, norm="linf", targeted=False, batch_size=256, verbose=0):
    """The fast gradient sign method (Goodfellow et al.): one step of length epsilon (L2: the fast
    gradient method); returns the adversarial images."""
    return pgd(model, images, labels, epsilon, max(epsilon, 1e-12), 1, norm=norm, targeted=targeted,
               batch_size=batch_size, verbose=verbose)


def _run_batches(model, images, labels, settings, batch_size, seed, verbose):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def attack(x, y, noise_seed):
        return perturb(lambda batch: model(batch, training=False), x, y, noise_seed=noise_seed, **settings)

    progress = keras.utils.Progbar(len(images), verbose=verbose, unit_name="image")
    out = np.empty_like(images)
    for begin in range(0, len(images), batch_size):
        end = min(begin + batch_size, len(images))
        noise_seed = tf.constant([seed, begin], tf.int32)
        out[begin:end] = attack(tf.constant(images[begin:end]), tf.constant(labels[begin:end]), noise_seed).numpy()
        progress.update(end)
    return out


@dataclasses.dataclass(frozen=True)
class Attack:
    """An attack's settings; `attack(model, images, labels)` returns the adversarial images.

    `Attack.pgd(0.3, 0.01, 40)`, `Attack.fgsm(0.3)`; `name` is what reports print (e.g. "PGD-20").
    """

    epsilon: float
    step_size: float
    steps: int
    norm: str = "linf"
    random_start: bool = False
    targeted: bool = False
    seed: int = 0

    def __post_init__(self):
        check_attack_arguments(self.epsilon, self.step_size, self.steps, self.norm)

    @classmethod
    def pgd(cls, epsilon, step_size, steps, **kwargs):
        return cls(epsilon, step_size, steps, **kwargs)

    @classmethod
    def fgsm(cls, epsilon, **kwargs):
        return cls(epsilon, epsilon, 1, **kwargs)

    @property
    def name(self):
        kind = "FGSM" if self.steps == 1 and self.step_size == self.epsilon else f"PGD-{self.steps}"
        return f"{kind} {self.norm} eps={self.epsilon:g}"

    def __call__(self, model, images, labels, batch_size=256, verbose=0):
        return pgd(model, images, labels, self.epsilon, self.step_size, self.steps, self.random_start,
                   norm=self.norm, targeted=self.targeted, batch_size=batch_size, seed=self.seed, verbose=verbose)


def predict_classes(model, images, batch_size=256):
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0)).argmax(-1)


def robust_accuracy(model, data, attack, batch_size=256, verbose=0):
    """Clean and adversarial top-1 accuracy of `model` under `attack`.

    Args:
        model: a Keras model on `[0, 1]` pixels returning logits.
        data: `(images, labels)` numpy arrays (pixels in `[0, 1]`, class ids or one-hot).
        attack: an `Attack`, or any `attack(model, images, labels) -> adversarial images` (an ART
            attack wrapped by `keras_hire.methods.robustness.art_attack`, for instance).
        batch_size, verbose: as in `pgd`.

    Returns:
        `{"clean_accuracy", "robust_accuracy", "examples", "attack", "seconds", "images_per_second"}`;
        an image counts as robust when its adversarial version is still classified correctly (untargeted).
    """
    images, labels = data
    images = check_pixel_images(images)
    labels = check_labels(labels, len(images), check_logits_model(model, images[:1]))
    clean = predict_classes(model, images, batch_size) == labels
    start = time.perf_counter()
    if isinstance(attack, Attack):
        adversarial = attack(model, images, labels, batch_size=batch_size, verbose=verbose)
    else:
        adversarial = attack(model, images, labels)
    seconds = time.perf_counter() - start
    robust = predict_classes(model, adversarial, batch_size) == labels
    return {"clean_accuracy": float(clean.mean()), "robust_accuracy": float(robust.mean()),
            "examples": int(len(images)), "attack": getattr(attack, "name", type(attack).__name__),
            "seconds": seconds, "images_per_second": len(images) / max(seconds, 1e-9)}
