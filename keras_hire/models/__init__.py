"""Model families (one file each), their named variants and the model registry."""

from keras_hire.models.aug_vit import AugViTBase, AugViTSmall
from keras_hire.models.backbone import Backbone
from keras_hire.models.cait import CaiT, CaiTS24
from keras_hire.models.cifar_resnets import CifarResNet, CifarResNet18, CifarWRN34_10
from keras_hire.models.cmt import CMT, CMTXS, CMTBase, CMTSmall, CMTTiny
from keras_hire.models.digit_cnns import DigitsCNN, DigitsCNNSmall, DigitsCNNWide
from keras_hire.models.fedpu_nets import CNNMnist, FedPUCNNMnist, FedPUResNet9, ResNet9
from keras_hire.models.ghostnet import GhostNet, GhostNet050, GhostNet100, GhostNet130, SGhostNetB1, SGhostNetB4
from keras_hire.models.hire_mlp import HireMLP, HireMLPBase, HireMLPLarge, HireMLPSmall, HireMLPTiny
from keras_hire.models.nadar_hybrid import NadarHybrid, NadarHybridDigits
from keras_hire.models.registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
    register_variant,
    variant_config,
)
from keras_hire.models.resnet import ResNet, ResNet18, ResNet34, ResNet50, ResNet101
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
    "variant_config",
]
__all__ += ["AugViTBase", "AugViTSmall", "CaiT", "CaiTS24", "DeiTBase", "DeiTBaseDistilled", "DeiTSmall"]
__all__ += ["DeiTSmallDistilled", "DeiTTiny", "DeiTTinyDistilled", "ViTBase16", "VisionTransformer"]
__all__ += ["ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101"]
__all__ += ["CNNMnist", "FedPUCNNMnist", "FedPUResNet9", "ResNet9"]
__all__ += ["GhostNet", "GhostNet050", "GhostNet100", "GhostNet130", "SGhostNetB1", "SGhostNetB4"]
__all__ += ["CifarResNet", "CifarResNet18", "CifarWRN34_10", "DigitsCNN", "DigitsCNNSmall", "DigitsCNNWide"]
__all__ += ["NadarHybrid", "NadarHybridDigits"]
