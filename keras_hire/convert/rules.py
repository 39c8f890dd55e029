"""Rule-based mapping from official PyTorch parameter names to Keras variables.

Keras layers are named after the official module paths (`network.0.0.attn`), and sublayers
after the official attribute names (`mlp_h1`), so the official name of every Keras variable is
derived by walking the model: `<layer name>.<sublayer attribute>....<torch parameter name>`.
Leaf layer types know their torch parameter names and layouts; a family registers a rule for
a custom layer whose weights need a different name or layout.
"""

from typing import Callable, NamedTuple

import keras
import numpy as np


class Target(NamedTuple):
    """A Keras variable and the function that turns the official array into its layout."""

    variable: object
    transform: Callable[[np.ndarray], np.ndarray]


_RULES = {}


def register_rule(layer_class):
    """Registers `rule(prefix, layer) -> {official_name: Target}` for a layer class."""

    def decorator(rule):
        _RULES[layer_class] = rule
        return rule

    return decorator


def identity(array):
    return array


def conv_kernel(array):
    """torch Conv2d (out, in/groups, kh, kw) -> Keras Conv2D (kh, kw, in/groups, out)."""
    return np.transpose(array, (2, 3, 1, 0))


def depthwise_kernel(array):
    """torch depthwise Conv2d (channels * multiplier, 1, kh, kw) -> Keras (kh, kw, channels, multiplier)."""
    return np.transpose(array, (2, 3, 0, 1))


def dense_kernel(array):
    """torch Linear (out, in), or a 1x1 Conv2d (out, in, 1, 1) -> Keras Dense (in, out)."""
    return np.reshape(array, (array.shape[0], -1)).T


def layer_targets(prefix, layer):
    """All `{official_name: Target}` of a layer, found by its rule or through its sublayers."""
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls](prefix, layer)
    sublayers = {attr: value for attr, value in vars(layer).items()
                 if isinstance(value, keras.layers.Layer) and not attr.startswith("_")}
    targets = {}
    for attr, sublayer in sublayers.items():
        targets.update(layer_targets(f"{prefix}.{attr}", sublayer))
    owned = {id(v) for v in layer.weights} - {id(t.variable) for t in targets.values()}
    if owned:
        raise NotImplementedError(
            f"No conversion rule for layer '{layer.name}' ({type(layer).__name__}) that owns weights "
            "outside its sublayers; register one with keras_hire.convert.rules.register_rule."
        )
    return targets


def model_targets(model):
    """`{official_name: Target}` for every weight of a model built from named layers."""
    targets = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        targets.update(layer_targets(layer.name, layer))
    return targets


@register_rule(keras.layers.Conv2D)
def _conv(prefix, layer):
    targets = {f"{prefix}.weight": Target(layer.kernel, conv_kernel)}
    if layer.use_bias:
        targets[f"{prefix}.bias"] = Target(layer.bias, identity)
    return targets


@register_rule(keras.layers.DepthwiseConv2D)
def _depthwise(prefix, layer):
    targets = {f"{prefix}.weight": Target(layer.kernel, depthwise_kernel)}
    if layer.use_bias:
        targets[f"{prefix}.bias"] = Target(layer.bias, identity)
    return targets


@register_rule(keras.layers.Dense)
def _dense(prefix, layer):
    targets = {f"{prefix}.weight": Target(layer.kernel, dense_kernel)}
    if layer.use_bias:
        targets[f"{prefix}.bias"] = Target(layer.bias, identity)
    return targets


@register_rule(keras.layers.BatchNormalization)
def _batch_norm(prefix, layer):
    targets = {
        f"{prefix}.running_mean": Target(layer.moving_mean, identity),
        f"{prefix}.running_var": Target(layer.moving_variance, identity),
    }
    if layer.scale:
        targets[f"{prefix}.weight"] = Target(layer.gamma, identity)
    if layer.center:
        targets[f"{prefix}.bias"] = Target(layer.beta, identity)
    return targets


@register_rule(keras.layers.LayerNormalization)
def _layer_norm(prefix, layer):
    targets = {}
    if layer.scale:
        targets[f"{prefix}.weight"] = Target(layer.gamma, identity)
    if layer.center:
        targets[f"{prefix}.bias"] = Target(layer.beta, identity)
    return targets
