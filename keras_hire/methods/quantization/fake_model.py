"""The fake-quantized clone of a float model, from searched intervals and bias corrections."""

import keras

from keras_hire.layers.circulant_dense import BlockCirculantDense
from keras_hire.layers.class_attention import ClassAttention
from keras_hire.methods.quantization.fake_quant_layers import (
    ATTENTION_OPS,
    FakeQuantAttention,
    FakeQuantConv2D,
    FakeQuantDense,
)
from keras_hire.methods.quantization.targets import is_attention


def fake_quant_layer(layer, intervals):
    """An unbuilt fake-quant twin of `layer` carrying its intervals (and bits), or None if it is not quantized.

    Args:
        layer: a float `MultiHeadSelfAttention`, `ClassAttention` (its twin is the equal one-query
            `FakeQuantAttention`), `Dense`, `BlockCirculantDense` (its twin a `FakeQuantDense` over the
            materialised kernel) or patch `Conv2D`.
        intervals: dict operation name -> `LayerIntervals`.

    Returns:
        A `FakeQuantAttention`, `FakeQuantDense`, `FakeQuantConv2D`, or None.

    Example:
    ```python
    twin = fake_quant_layer(model.get_layer("blocks.0.mlp.fc1"), result.intervals)
    ```
    """
    config = layer.get_config()
    if isinstance(layer, ClassAttention):
        config["num_queries"] = 1  # the class token
    if isinstance(layer, BlockCirculantDense):
        config = {key: config[key] for key in ("name", "dtype", "trainable", "units", "use_bias")}
    if is_attention(layer) and f"{layer.name}.q" in intervals:
        ops = {}
        for op in ATTENTION_OPS:
            found = intervals.get(f"{layer.name}.{op}")
            ops[op] = [None, None] if found is None else [found.input, found.weight]
        bits = intervals[f"{layer.name}.q"].bits  # one bit width per attention module
        return FakeQuantAttention.from_config({**config, "intervals": ops, "bits": bits})
    if layer.name in intervals:
        found = intervals[layer.name]
        cls = FakeQuantConv2D if isinstance(layer, keras.layers.Conv2D) else FakeQuantDense
        return cls.from_config({**config, "input_delta": found.input, "weight_delta": found.weight,
                                "bits": found.bits})
    return None


def copy_weights(new, old, outcomes):
    """Copies the float weights of `old` into its built twin `new` and sets the bias corrections of `outcomes`."""
    def correct(variable, name):
        outcome = outcomes.get(name)
        if outcome is not None and outcome.correction is not None:
            variable.assign(outcome.correction)

    if isinstance(new, FakeQuantAttention):
        for op in ("q", "k", "v", "proj"):
            getattr(new, op).set_weights(getattr(old, op).get_weights())
            correct(getattr(new, f"{op}_correction"), f"{new.name}.{op}")
        if new.talking_heads:
            new.proj_l.set_weights(old.proj_l.get_weights())
            new.proj_w.set_weights(old.proj_w.get_weights())
    elif isinstance(new, (FakeQuantDense, FakeQuantConv2D)):
        new.kernel.assign(old.kernel)  # a block-circulant layer's materialised kernel
        if getattr(old, "bias", None) is not None:
            new.bias.assign(old.bias)
        correct(new.bias_correction, new.name)
    else:
        new.set_weights(old.get_weights())


def build_fake_quant_model(model, intervals, outcomes=None):
    """A clone of `model` whose quantized layers are fake-quant layers with `intervals` and the bias corrections.

    Args:
        model: the float functional `keras.Model`.
        intervals: dict operation name -> `LayerIntervals` (each carries its bits).
        outcomes: dict operation name -> `SearchOutcome`, for the bias corrections; None: no correction.

    Returns:
        A new `keras.Model` named `{model.name}_fake_quant`; the float model is left unchanged.

    Example:
    ```python
    fake = build_fake_quant_model(model, result.intervals)
    ```
    """
    outcomes = outcomes or {}

    def clone(layer):
        twin = fake_quant_layer(layer, intervals)
        return layer.__class__.from_config(layer.get_config()) if twin is None else twin

    fake = keras.models.clone_model(model, clone_function=clone)
    fake.name = f"{model.name}_fake_quant"
    by_name = {layer.name: layer for layer in model.layers}
    for new in fake.layers:
        if new.weights:  # inputs (renamed by the clone when unnamed), reshapes and activations have none
            copy_weights(new, by_name[new.name], outcomes)
    return fake
