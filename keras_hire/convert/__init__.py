"""Official checkpoints into keras_hire models: `load_pytorch_weights(model, source)`."""

from keras_hire.convert import cmt as _cmt_rules  # noqa: F401  (registers its rules)
from keras_hire.convert import hire_mlp as _hire_mlp_rules  # noqa: F401  (registers its rules)
from keras_hire.convert import resolution_batch_norm as _resolution_bn_rules  # noqa: F401  (registers its rules)
from keras_hire.convert import vit as _vit_rules  # noqa: F401  (registers its rules)
from keras_hire.convert.loader import load_pytorch_weights
from keras_hire.convert.rules import Target, layer_targets, model_targets, register_rule
from keras_hire.convert.sources import read_state_dict

__all__ = ["Target", "layer_targets", "load_pytorch_weights", "model_targets", "read_state_dict", "register_rule"]
