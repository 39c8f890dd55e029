"""Conversion rules for CMT's layers: official `sr.0`/`sr.1`, `conv1.0`/`conv1.2` names, resized biases."""

from keras_hire.convert.rules import Target, layer_targets, register_rule
from keras_hire.layers import InvertedResidualFFN, LightweightAttention, RelativePositionBias
from keras_hire.layers.cmt_position_bias import resize_relative_position_bias


@register_rule(RelativePositionBias)
def _relative_position_bias(prefix, layer):
    """`relative_pos_a` (no `.weight` suffix), resized when the checkpoint's resolution differs."""

    def to_model_grid(array):
        if array.ndim != 3 or tuple(array.shape) == tuple(layer.bias.shape):
            return array
        try:
            return resize_relative_position_bias(array, layer.query_grid, layer.kv_grid)
        except ValueError:
            return array  # not a square grid: the loader reports the shape mismatch with the others

    return {prefix: Target(layer.bias, to_model_grid)}


@register_rule(LightweightAttention)
def _lightweight_attention(prefix, layer):
    targets = {}
    for attr in ("q", "k", "v", "proj"):
        targets.update(layer_targets(f"{prefix}.{attr}", getattr(layer, attr)))
    if layer.sr is not None:  # official nn.Sequential(Conv2d, BatchNorm2d)
        targets.update(layer_targets(f"{prefix}.sr.0", layer.sr))
        targets.update(layer_targets(f"{prefix}.sr.1", layer.sr_norm))
    return targets


@register_rule(InvertedResidualFFN)
def _inverted_residual_ffn(prefix, layer):
    # Official: conv1 = Sequential(Conv2d, GELU, BatchNorm2d), conv2 = Sequential(Conv2d, BatchNorm2d).
    names = {
        "conv1.0": layer.conv1,
        "conv1.2": layer.conv1_norm,
        "proj": layer.proj,
        "proj_bn": layer.proj_norm,
        "conv2.0": layer.conv2,
        "conv2.1": layer.conv2_norm,
    }
    targets = {}
    for name, sublayer in names.items():
        targets.update(layer_targets(f"{prefix}.{name}", sublayer))
    return targets
