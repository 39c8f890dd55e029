"""`ManifoldDistiller`: the whole objective of 2107.01378 on `keras.distillation.Distiller`.

    loss = (1 - alpha) * CE(student, labels) + alpha * KD(student, teacher)
           + beta * mean over layer pairs (w_sample * sample + w_patch * patch + w_rand * random)

KD is soft (tau^2 KL, batchmean) or hard (CE on the teacher's argmax). A distilled DeiT student
(`distilled=True`) gets CE on its class head and KD on its distillation head, as in the official
`DistillationLoss`. The loss lives in `compute_loss`, so the stock Keras train steps of every
backend run it (TensorFlow, JAX), under any `tf.distribute` strategy.
"""

import keras
from keras import ops

from keras_hire.methods.distillation.logits import (
    HardDistillation,
    SoftDistillation,
    hard_distillation_loss,
    soft_distillation_loss,
)
from keras_hire.methods.distillation.objective import TERMS, ManifoldDistillation
from keras_hire.methods.distillation.taps import plan_layer_pairs, tap_model
from keras_hire.training.replicas import global_loss, per_replica_loss

KD_TYPES = ("soft", "hard")


class ManifoldDistiller(keras.distillation.Distiller):
    """Trains `student` from a frozen `teacher` with logit KD and (optionally) the manifold terms.

    `call` returns the student's tap dict (`"logits"` and the tapped blocks); compiled metrics see
    `"logits"`. Logged each step: `student_loss` (CE), `distillation_loss` (KD),
    `manifold_patch`, `manifold_sample`, `manifold_random` (unweighted, mean over pairs),
    `manifold_loss` (their weighted sum, before beta) and `total_loss`. The teacher always runs in
    inference mode (`training=False`) with no gradient.

    Args:
        teacher: a trained `keras.Model` (frozen here).
        student: the functional `keras.Model` to train (a keras_hire registry model).
        kd: `"soft"`, `"hard"` or `None` (no logit term).
        manifold: add the manifold terms (needs token/stage taps on both models).
        alpha: weight of KD; CE gets `1 - alpha`. The paper's 1.0 trains on KD + manifold only.
        beta: weight of the manifold term (1.0).
        temperature: tau of soft KD (1.0).
        w_sample, w_patch, w_rand: weights of the three terms (0.1, 4, 0.2).
        num_samples: K of the random term (192).
        student_layers, teacher_layers: tap indices paired in order; both empty = the paper's
            pattern (`taps.default_layers`): DeiT-Ti `[0-3, 8-11]` <- CaiT-S24 `[0-3, 20-23]`.
        seed: seed of the random term's draws.

    Example:
    ```python
    distiller = ManifoldDistiller(create_model("cait_s24"), create_model("deit_tiny"))
    distiller.compile(optimizer="adamw", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    distiller.fit(images, one_hot_labels)
    distiller.student.save("deit_tiny_distilled.keras")
    ```
    """

    def __init__(self, teacher, student, kd="soft", manifold=True, alpha=1.0, beta=1.0, temperature=1.0,
                 w_sample=0.1, w_patch=4.0, w_rand=0.2, num_samples=192, student_layers=None, teacher_layers=None,
                 seed=None, name="distiller", **kwargs):
        check_compatible(student, teacher)
        if kd is not None and kd not in KD_TYPES:
            raise ValueError(f"ManifoldDistiller: kd={kd!r}; expected 'soft', 'hard' or None. Fix: pass kd='soft'.")
        if kd is None and not manifold:
            raise ValueError("ManifoldDistiller: kd=None and manifold=False leave nothing to distil. Fix: set kd or "
                             "manifold, or train the student alone.")
        for label, value in (("alpha", alpha), ("beta", beta)):
            if not 0.0 <= value <= (1.0 if label == "alpha" else float("inf")):
                raise ValueError(f"ManifoldDistiller: {label}={value}; alpha must lie in [0, 1] and beta be >= 0. "
                                 "Fix: use the paper's alpha=1, beta=1.")
        losses = []
        if kd is not None:
            losses.append(SoftDistillation(temperature) if kd == "soft" else HardDistillation())
        pairs = plan_layer_pairs(student, teacher, student_layers, teacher_layers) if manifold else []
        if manifold:
            losses.append(ManifoldDistillation(pairs, w_sample, w_patch, w_rand, num_samples))
        super().__init__(teacher=teacher, student=student, distillation_losses=losses,
                         student_loss_weight=1.0 - float(alpha), name=name, **kwargs)
        self.kd, self.manifold, self.alpha, self.beta = kd, bool(manifold), float(alpha), float(beta)
        self.temperature = float(temperature)
        self.pairs = pairs
        self._logit_loss = losses[0] if kd is not None else None
        self._manifold_loss = losses[-1] if manifold else None
        self._student_taps = tap_model(student, [p.student.name for p in pairs], "student")
        self._teacher_taps = tap_model(teacher, [p.teacher.name for p in pairs], "teacher")
        self._seed_generator = keras.random.SeedGenerator(seed)
        # Keras does not save SeedGenerator states with the weights; tracking the state as a weight does, so a
        # resumed run draws the random term's tokens an uninterrupted run would have drawn.
        self.seed_state = self._seed_generator.state
        self.manifold_loss_tracker = keras.metrics.Mean(name="manifold_loss")
        self.term_trackers = {term: keras.metrics.Mean(name=f"manifold_{term}") for term in TERMS}

    @property
    def distilled_student(self):
        """True for a DeiT student with a distillation head (KD on it, CE on the class head)."""
        return "logits_dist" in self._student_taps.output

    def call(self, inputs, training=None):
        return self._student_taps(inputs, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, _logits(y_pred), sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        student = y_pred if isinstance(y_pred, dict) else {"logits": y_pred}
        teacher = {key: ops.stop_gradient(value) for key, value in self._teacher_taps(x, training=False).items()}
        zero = ops.zeros((), "float32")
        student_loss = zero
        if y is not None:  # the compiled (label-smoothed) CE; on the class head of a distilled DeiT
            student_loss = global_loss(self._student_loss(y, student.get("logits_cls",
                                                                                           student["logits"])))
        distillation_loss = zero
        if self.kd is not None:
            kd_logits = student.get("logits_dist", student["logits"])
            distillation_loss = (soft_distillation_loss(kd_logits, teacher["logits"], self.temperature)
                                 if self.kd == "soft" else hard_distillation_loss(kd_logits, teacher["logits"]))
        manifold_loss = zero
        if self.manifold:
            terms = self._manifold_loss.terms(teacher, student, seed=self._seed_generator)
            manifold_loss = self._manifold_loss.weighted(terms)
            for term, tracker in self.term_trackers.items():
                tracker.update_state(terms[term])
        total = ((1.0 - self.alpha) * ops.cast(student_loss, "float32") + self.alpha * distillation_loss
                 + self.beta * manifold_loss)
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.manifold_loss_tracker.update_state(manifold_loss)
        self.total_loss_tracker.update_state(total)
        return per_replica_loss(total)  # as Keras scales compiled losses: replica gradients are summed

    def reset_metrics(self):
        super().reset_metrics()
        self.manifold_loss_tracker.reset_state()
        for tracker in self.term_trackers.values():
            tracker.reset_state()

    def get_config(self):
        config = super().get_config()
        config.pop("distillation_losses", None)
        config.pop("distillation_loss_weights", None)
        config.pop("student_loss_weight", None)
        config.update(kd=self.kd, manifold=self.manifold, alpha=self.alpha, beta=self.beta,
                      temperature=self.temperature, student_layers=[p.student.name for p in self.pairs],
                      teacher_layers=[p.teacher.name for p in self.pairs])
        if self._manifold_loss is not None:
            config.update(self._manifold_loss.get_config())
        return config


def _logits(y_pred):
    return y_pred["logits"] if isinstance(y_pred, dict) else y_pred


def check_compatible(student, teacher):
    """Student and teacher must see the same images and predict the same classes; a clear error otherwise."""
    for role, model in (("student", student), ("teacher", teacher)):
        if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
            raise ValueError(f"The {role} must be a functional keras.Model (e.g. a keras_hire registry model); got "
                             f"{type(model).__name__}. Fix: build it with keras_hire.models.create_model(...).")
    s_shape, t_shape = tuple(student.inputs[0].shape[1:]), tuple(teacher.inputs[0].shape[1:])
    if s_shape[:2] != t_shape[:2]:
        raise ValueError(f"Student '{student.name}' takes {s_shape[0]}x{s_shape[1]} images and teacher "
                         f"'{teacher.name}' {t_shape[0]}x{t_shape[1]}; both see the same batch. Fix: build (and "
                         f"train) the teacher with input_shape={s_shape} (or the student with the teacher's size, "
                         f"--image_size={t_shape[0]}).")
    if s_shape[2] != t_shape[2]:
        raise ValueError(f"Student '{student.name}' takes {s_shape[2]}-channel images and teacher '{teacher.name}' "
                         f"{t_shape[2]}-channel ones; both see the same batch. Fix: use --channels={t_shape[2]} for "
                         "the student, or a teacher trained on the student's channels.")
    s_classes, t_classes = student.outputs[0].shape[-1], teacher.outputs[0].shape[-1]
    if s_classes != t_classes:
        raise ValueError(f"Student '{student.name}' predicts {s_classes} classes and teacher '{teacher.name}' "
                         f"{t_classes}; logit distillation compares them class by class. Fix: use a teacher trained "
                         "on the student's dataset (with its num_classes).")
