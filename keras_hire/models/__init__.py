"""Model families (one file each), their named variants and the model registry."""

from keras_hire.models.aug_vit import AugViTBase, AugViTSmall
from keras_hire.models.backbone import Backbone
from keras_hire.models.cait import CaiT, CaiTS24
from keras_hire.models.cmt import CMT, CMTXS, CMTBase, CMTSmall, CMTTiny
from keras_hire.models.hire_mlp import HireMLP, HireMLPBase, HireMLPLarge, HireMLPSmall, HireMLPTiny
from keras_hire.models.registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
    register_variant,
)
from keras_hire.models.vit import (
    DeiTBase,
    DeiTBaseDistilled,
    DeiTSmall,
    DeiTSmallDistilled,
    DeiTTiny,
    DeiTTinyDistilled,
    VisionTransformer,
    ViTBase16,
)

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
    "ModelInfo",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "register_variant",
]
__all__ += ["AugViTBase", "AugViTSmall", "CaiT", "CaiTS24", "DeiTBase", "DeiTBaseDistilled", "DeiTSmall"]
__all__ += ["DeiTSmallDistilled", "DeiTTiny", "DeiTTinyDistilled", "ViTBase16", "VisionTransformer"]
