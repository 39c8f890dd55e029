"""Model families (one file each), their named variants and the model registry."""

from keras_hire.models.backbone import Backbone
from keras_hire.models.cmt import CMT, CMTXS, CMTBase, CMTSmall, CMTTiny
from keras_hire.models.hire_mlp import HireMLP, HireMLPBase, HireMLPLarge, HireMLPSmall, HireMLPTiny
from keras_hire.models.registry import create_model, list_models, register_model

__all__ = [
    "Backbone",
    "CMT",
    "CMTBase",
    "CMTSmall",
    "CMTTiny",
    "CMTXS",
    "HireMLP",
    "HireMLPBase",
    "HireMLPLarge",
    "HireMLPSmall",
    "HireMLPTiny",
    "create_model",
    "list_models",
    "register_model",
]
