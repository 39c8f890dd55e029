"""The manifold term of the objective over layer pairs, as a `keras.distillation.DistillationLoss`."""

import keras
from keras import ops

from keras_hire.methods.distillation.manifold import manifold_loss
from keras_hire.methods.distillation.taps import pair_tokens

TERMS = ("patch", "sample", "random")


class ManifoldDistillation(keras.distillation.DistillationLoss):
    """Mean over layer pairs of `w_sample * sample + w_patch * patch + w_rand * random` (official `mf_loss`).

    `teacher_outputs` and `student_outputs` are the tap dicts of `taps.tap_model`; `pairs` (from
    `taps.plan_layer_pairs`) say which taps meet and how their patches are merged.

    Args:
        pairs: the `LayerPair`s.
        w_sample, w_patch, w_rand: the paper's 0.1, 4 and 0.2.
        num_samples: K of the random term (192).

    Example:
    ```python
    loss = ManifoldDistillation(plan_layer_pairs(student, teacher)).compute_loss(teacher_taps, student_taps)
    ```
    """

    def __init__(self, pairs, w_sample=0.1, w_patch=4.0, w_rand=0.2, num_samples=192):
        if not pairs:
            raise ValueError("ManifoldDistillation needs at least one layer pair. Fix: pass student_layers and "
                             "teacher_layers, or leave both empty for the default pairs.")
        self.pairs = list(pairs)
        self.weights = {"sample": float(w_sample), "patch": float(w_patch), "random": float(w_rand)}
        self.num_samples = int(num_samples)

    def terms(self, teacher_outputs, student_outputs, seed=None):
        """`{"patch", "sample", "random"}`: each unweighted term averaged over the layer pairs."""
        totals = {term: 0.0 for term in TERMS}
        for pair in self.pairs:
            student_tokens, teacher_tokens = pair_tokens(pair, student_outputs[pair.student.name],
                                                         ops.stop_gradient(teacher_outputs[pair.teacher.name]))
            layer = manifold_loss(student_tokens, teacher_tokens, self.num_samples, seed=seed)
            totals = {term: totals[term] + layer[term] for term in TERMS}
        return {term: totals[term] / len(self.pairs) for term in TERMS}

    def weighted(self, terms):
        return sum(self.weights[term] * terms[term] for term in TERMS)

    def compute_loss(self, teacher_outputs, student_outputs, seed=None, **kwargs):
        return self.weighted(self.terms(teacher_outputs, student_outputs, seed))

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Tap dicts of different keys are expected (student and teacher taps differ)."""

    def get_config(self):
        return {"w_sample": self.weights["sample"], "w_patch": self.weights["patch"],
                "w_rand": self.weights["random"], "num_samples": self.num_samples}
