"""The independent check: the same evaluation through the Adversarial Robustness Toolbox (ART).

ART takes Keras 3 models only through `TensorFlowV2Classifier` (its legacy `KerasClassifier`
breaks, ART#2465). `art_pgd` runs ART's `ProjectedGradientDescent`, which our `pgd` matches step
for step; `art_autoattack` runs ART's `AutoAttack`, the number reports quote. Needs
`pip install "adversarial-robustness-toolbox>=1.20,<1.21"` (the `robustness` extra); imported lazily.
"""

import dataclasses

import numpy as np

from keras_hire.methods.robustness.checks import (
    check_attack_arguments,
    check_labels,
    check_logits_model,
    check_pixel_images,
)

AUTOATTACK_PRESETS = ("standard", "fast")


def _art():
    try:
        import art  # noqa: F401
    except ImportError as error:
        raise ImportError("The ART check needs the Adversarial Robustness Toolbox. Fix: pip install "
                          "'adversarial-robustness-toolbox>=1.20,<1.21' (or keras_hire[robustness]).") from error
    return art


def art_classifier(model, images):
    """`TensorFlowV2Classifier` over `model` (pixels in `[0, 1]` -> logits), with CE from logits."""
    _art()
    import keras
    from art.estimators.classification import TensorFlowV2Classifier

    num_classes = check_logits_model(model, images[:1])
    return TensorFlowV2Classifier(model=model, nb_classes=num_classes, input_shape=tuple(images.shape[1:]),
                                  loss_object=keras.losses.CategoricalCrossentropy(from_logits=True),
                                  clip_values=(0.0, 1.0))


def _prepare(model, images, labels):
    images = check_pixel_images(images)
    classifier = art_classifier(model, images)
    labels = check_labels(labels, len(images), classifier.nb_classes)
    return classifier, images, np.eye(classifier.nb_classes, dtype="float32")[labels]


def art_pgd(model, images, labels, epsilon, step_size, steps, random_start=False, *, norm="linf", targeted=False,
            batch_size=256, verbose=False):
    """ART's `ProjectedGradientDescent` with our `pgd`'s arguments; returns the adversarial images."""
    check_attack_arguments(epsilon, step_size, steps, norm)
    classifier, images, onehot = _prepare(model, images, labels)
    from art.attacks.evasion import ProjectedGradientDescent

    attack = ProjectedGradientDescent(classifier, norm=np.inf if norm == "linf" else 2, eps=float(epsilon),
                                      eps_step=float(step_size), max_iter=int(steps), targeted=targeted,
                                      num_random_init=1 if random_start else 0, batch_size=batch_size,
                                      verbose=verbose)
    return attack.generate(images, onehot).astype("float32")


def art_autoattack(model, images, labels, epsilon, step_size=None, *, norm="linf", preset="standard",
                   batch_size=256):
    """ART's `AutoAttack`; returns the adversarial images.

    `preset="standard"` is ART's default set (APGD-CE and APGD-DLR with 100 iterations and 5
    restarts, DeepFool, Square with 5,000 queries and 5 restarts). `"fast"` keeps the same four
    attacks with 1 restart and 1,000 Square queries, for CPU-sized checks; reports say which ran.
    """
    if preset not in AUTOATTACK_PRESETS:
        raise ValueError(f"preset={preset!r}: unknown. Fix: use one of {AUTOATTACK_PRESETS}.")
    step_size = step_size if step_size is not None else epsilon / 4
    check_attack_arguments(epsilon, step_size, 1, norm)
    classifier, images, onehot = _prepare(model, images, labels)
    from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent, DeepFool, SquareAttack

    art_norm = np.inf if norm == "linf" else 2
    attacks = None
    if preset == "fast":
        attacks = [AutoProjectedGradientDescent(classifier, norm=art_norm, eps=epsilon, eps_step=step_size,
                                                max_iter=100, nb_random_init=1, batch_size=batch_size,
                                                loss_type=loss, verbose=False)
                   for loss in ("cross_entropy", "difference_logits_ratio")]
        attacks += [DeepFool(classifier, max_iter=100, epsilon=1e-3, nb_grads=10, batch_size=batch_size,
                             verbose=False),
                    SquareAttack(classifier, norm=art_norm, eps=epsilon, max_iter=1000, p_init=0.8, nb_restarts=1,
                                 batch_size=batch_size, verbose=False)]
    attack = AutoAttack(classifier, norm=art_norm, eps=float(epsilon), eps_step=float(step_size), attacks=attacks,
                        batch_size=batch_size)
    return attack.generate(images, onehot).astype("float32")


@dataclasses.dataclass(frozen=True)
class ArtAttack:
    """An ART attack as a `robust_accuracy` attack: `kind` is `"pgd"` or `"autoattack"`."""

    kind: str
    epsilon: float
    step_size: float
    steps: int = 20
    preset: str = "standard"
    norm: str = "linf"
    batch_size: int = 256

    def __post_init__(self):
        if self.kind not in ("pgd", "autoattack"):
            raise ValueError(f"kind={self.kind!r}: unknown. Fix: use 'pgd' or 'autoattack'.")

    @property
    def name(self):
        if self.kind == "pgd":
            return f"ART PGD-{self.steps} {self.norm} eps={self.epsilon:g}"
        return f"ART AutoAttack ({self.preset}) {self.norm} eps={self.epsilon:g}"

    def __call__(self, model, images, labels):
        if self.kind == "pgd":
            return art_pgd(model, images, labels, self.epsilon, self.step_size, self.steps, norm=self.norm,
                           batch_size=self.batch_size)
        return art_autoattack(model, images, labels, self.epsilon, self.step_size, norm=self.norm,
                              preset=self.preset, batch_size=self.batch_size)
