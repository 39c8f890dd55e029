"""Fine-grained manifold distillation (arXiv 2107.01378) and DeiT logit distillation.

Public: `manifold_loss` (the official `layer_mf_loss`, exact), `soft_distillation_loss`,
`hard_distillation_loss`, the `keras.distillation.DistillationLoss` subclasses `SoftDistillation`,
`HardDistillation`, `ManifoldDistillation`, the `ManifoldDistiller` (a `keras.distillation.Distiller`
with the whole objective in `compute_loss`), token taps and patch merging, `DistillConfig` and
`distill(config)` (training/distill.py). See docs/distillation.md.
"""

from keras_hire.methods.distillation.config import DISTILLATIONS, DistillConfig
from keras_hire.methods.distillation.distiller import ManifoldDistiller, check_compatible
from keras_hire.methods.distillation.logits import (
                                                    HardDistillation,
                                                    SoftDistillation,
                                                    hard_distillation_loss,
                                                    soft_distillation_loss,
)
from keras_hire.methods.distillation.manifold import manifold_loss
from keras_hire.methods.distillation.objective import ManifoldDistillation
from keras_hire.methods.distillation.run import build_distiller, distill
from keras_hire.methods.distillation.taps import LayerPair, Tap, default_layers, list_taps, plan_layer_pairs, tap_model
from keras_hire.methods.distillation.teacher import load_teacher
from keras_hire.methods.distillation.tokens import flatten_map, merge_tokens

__all__ = [
    "DISTILLATIONS", "DistillConfig", "HardDistillation", "LayerPair", "ManifoldDistillation", "ManifoldDistiller",
    "SoftDistillation", "Tap", "build_distiller", "check_compatible", "default_layers", "distill", "flatten_map",
    "hard_distillation_loss", "list_taps", "load_teacher", "manifold_loss", "merge_tokens", "plan_layer_pairs",
    "soft_distillation_loss", "tap_model",
]
