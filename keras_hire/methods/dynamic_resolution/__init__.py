"""DRNet (Zhu et al., arXiv 2106.02898, NeurIPS 2021): per-image input resolution, chosen by a small
predictor, for a ResNet with resolution-aware BatchNorm. See docs/dynamic_resolution.md."""

from keras_hire.methods.dynamic_resolution.config import DRNetConfig
from keras_hire.methods.dynamic_resolution.costs import check_target, flops_loss, resolution_costs
from keras_hire.methods.dynamic_resolution.drnet import (
    DRNet,
    MultiResolutionClassifier,
    resize,
    scale_learning_rate,
)
from keras_hire.methods.dynamic_resolution.predictor import resolution_predictor
from keras_hire.methods.dynamic_resolution.run import build_classifier, load_classifier, run_drnet
from keras_hire.methods.dynamic_resolution.selection import gumbel_noise, gumbel_select

__all__ = ["DRNet", "DRNetConfig", "MultiResolutionClassifier", "build_classifier", "check_target", "flops_loss",
           "gumbel_noise", "gumbel_select", "load_classifier", "resize", "resolution_costs", "resolution_predictor",
           "run_drnet", "scale_learning_rate"]
