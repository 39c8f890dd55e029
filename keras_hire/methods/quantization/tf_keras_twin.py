"""`to_tf_keras(model)`: a Keras 3 functional model of standard layers rebuilt as the same `tf_keras` model.

TFMOT 0.8.1 takes only Keras 2 (`tf_keras`) models (STACK.md §4). The twin is built by running the
Keras 3 graph node by node with each layer swapped for its `tf_keras` counterpart (same class name,
same config, same weights), so any functional model of standard layers converts, not only the
families named here. This module (with `tfmot_stages.py` and `tfmot_training.py`, which load them
through it) is the only place that imports `tf_keras` and `tensorflow_model_optimization`, lazily.
Importing TFMOT sets `TF_USE_LEGACY_KERAS=1`, which would make `tf.keras` mean `tf_keras` for the
rest of the process; `tf.keras` is resolved once, on first use, so `load_tfmot` resolves it first and
puts the variable back: after the bridge, `tf.keras` is what it was (Keras 3 by default).
"""

import importlib
import inspect
import os

import numpy as np

# Layers whose class, config and weight order are the same in Keras 3 and tf_keras 2.21.
STANDARD_LAYERS = frozenset({
    "InputLayer", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense",
    "BatchNormalization", "LayerNormalization", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "ZeroPadding2D",
    "Cropping2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout2D", "UpSampling2D", "Rescaling", "Identity",
})
# Keras 3 activation names that tf_keras spells differently.
_ACTIVATION_NAMES = {"silu": "swish"}
# Activations tf_keras computes differently (its hard_sigmoid is clip(0.2 x + 0.5), Keras 3's relu6(x + 3) / 6):
# the twin layer gets no activation and ReLU6-based layers after it.
_REBUILT_ACTIVATIONS = ("hard_sigmoid", "hard_silu", "hard_swish")
TF_KERAS_PIN = "tf-keras>=2.21,<2.22"
TFMOT_PIN = "tensorflow-model-optimization>=0.8,<0.9"
INSTALL_HINT = "pip install 'keras_hire[tfmot]'"


def load_tf_keras():
    """Imports `tf_keras`; checks that it has TensorFlow's major.minor version."""
    import tensorflow as tf

    try:
        tf_keras = importlib.import_module("tf_keras")
    except ImportError as error:
        raise ImportError(f"The TFMOT bridge needs tf_keras ({TF_KERAS_PIN}), which is not installed. "
                          f"Fix: {INSTALL_HINT}.") from error
    if _major_minor(tf_keras.__version__) != _major_minor(tf.__version__):
        raise ImportError(f"tf_keras {tf_keras.__version__} does not match TensorFlow {tf.__version__}: "
                          f"tf_keras must have TensorFlow's major.minor version. Fix: pip install "
                          f"'tf-keras=={_major_minor(tf.__version__)}.*'.")
    return tf_keras


def load_tfmot():
    """Imports `tensorflow_model_optimization` after `load_tf_keras`; checks the 0.8 series."""
    import tensorflow as tf

    load_tf_keras()
    tf.keras.__name__  # noqa: B018 (resolves tf.keras now, before TFMOT's environment variable can flip it)
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        tfmot = importlib.import_module("tensorflow_model_optimization")
    except ImportError as error:
        raise ImportError(f"The TFMOT bridge needs {TFMOT_PIN}, which is not installed. Fix: {INSTALL_HINT}.") \
            from error
    finally:
        _restore_environment("TF_USE_LEGACY_KERAS", previous)
    if _major_minor(tfmot.__version__) != "0.8":
        raise ImportError(f"tensorflow-model-optimization {tfmot.__version__} is not supported: the bridge is "
                          f"built and tested on 0.8 (the release for tf_keras 2.21). Fix: pip install "
                          f"'{TFMOT_PIN}'.")
    return tfmot


def _restore_environment(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _major_minor(version):
    return ".".join(str(version).split(".")[:2])


def custom_layers(model):
    """`[(name, class name)]` of the operations in `model` that the bridge cannot rebuild in tf_keras."""
    return [(op.name, type(op).__name__) for op in model.operations
            if type(op).__name__ not in STANDARD_LAYERS or not type(op).__module__.startswith("keras.")]


def check_standard_layers(model):
    """Raises a ValueError naming every custom layer of `model`, and what such models can use instead."""
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"to_tf_keras: {model.name!r} ({type(model).__name__}) is not a functional model; the "
                         "bridge rebuilds functional graphs. Fix: build the model with keras.Input and standard "
                         "layers, or QAT it natively (training/qat.py --path=native; docs/qat.md).")
    found = custom_layers(model)
    if found:
        listed = ", ".join(f"{name} ({cls})" for name, cls in found[:8]) + (" ..." if len(found) > 8 else "")
        raise ValueError(f"to_tf_keras: {model.name!r} has {len(found)} layer(s) that are not standard Keras "
                         f"layers TFMOT knows: {listed}. Fix: QAT such models natively (compress() picks it, "
                         "training/qat.py --path=native; docs/qat.md).")


def tf_keras_config(layer, cls):
    """The layer's Keras 3 config made readable by tf_keras class `cls`: a plain dtype name, activation names
    tf_keras knows, no initializers (the weights are copied, so they would never be used), and none of
    Keras 3's newer arguments (`quantization_config`, `lora_rank`, ...) while they are unset."""
    config = dict(layer.get_config())
    accepted = {"name", "trainable", "dtype"}.union(
        *(inspect.signature(base.__init__).parameters for base in cls.__mro__ if "__init__" in vars(base)))
    for key in [key for key in config if key not in accepted]:
        if config[key] not in (None, False, {}, []) and type(layer).__name__ != "InputLayer":
            raise ValueError(f"to_tf_keras: layer {layer.name!r} sets {key}={config[key]!r}, which tf_keras "
                             f"{cls.__name__} does not have. Fix: convert the model before setting it.")
        if type(layer).__name__ != "InputLayer":
            del config[key]
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        config["dtype"] = dtype.get("config", {}).get("name", "float32")
    for key in list(config):
        if key.endswith("_initializer"):
            del config[key]
        elif key.endswith(("_regularizer", "_constraint")) and config[key] is not None:
            raise ValueError(f"to_tf_keras: layer {layer.name!r} has {key}={config[key]}; the bridge copies "
                             "layers without regularizers or constraints. Fix: remove it before converting.")
    if isinstance(config.get("activation"), str):
        config["activation"] = _ACTIVATION_NAMES.get(config["activation"], config["activation"])
        if config["activation"] in _REBUILT_ACTIVATIONS:
            config["activation"] = "linear"
    if type(layer).__name__ == "InputLayer":
        config = {"batch_input_shape": config["batch_shape"], "dtype": config["dtype"], "name": config["name"],
                  "sparse": config.get("sparse", False)}
    return config


def to_tf_keras(model):
    """Rebuilds a Keras 3 functional model of standard layers as the equivalent `tf_keras` model.

    The graph is replayed node by node with every layer replaced by a `tf_keras` layer of the same
    class and config (a layer used twice stays shared) and the same weights, so outputs agree to
    float32 round-off (tested at 1e-5 on ResNet, GhostNet and the digits CNNs).

    Args:
        model: a functional `keras.Model` of standard Keras layers (`STANDARD_LAYERS`), e.g.
            `keras_hire.models.ResNet50()`.

    Returns:
        A `tf_keras.Model` with the same name, layer names, inputs, outputs and weights.

    Raises:
        ValueError: the model has custom layers (named in the message) or is not functional.
        ImportError: tf_keras is missing or does not match TensorFlow's version.

    Example:
    ```python
    twin = to_tf_keras(keras_hire.models.ResNet18(num_classes=10, input_shape=(64, 64, 3)))
    qat = tensorflow_model_optimization.quantization.keras.quantize_model(twin)
    ```
    """
    check_standard_layers(model)
    tf_keras = load_tf_keras()
    twins, calls = {}, {}

    def twin_of(layer):
        if id(layer) not in twins:
            cls = getattr(tf_keras.layers, type(layer).__name__)
            twins[id(layer)] = twin = cls.from_config(tf_keras_config(layer, cls))
            calls[id(layer)] = _with_activation(twin, getattr(layer, "activation", None), tf_keras)
        return calls[id(layer)]

    inputs = [tf_keras.Input(batch_shape=tuple(x.shape), dtype=x.dtype, name=_input_name(x)) for x in model.inputs]
    outputs = model._run_through_graph(inputs, operation_fn=twin_of)  # the graph walk Keras 3's own clone uses
    twin = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)
    for layer in model.operations:
        if layer.weights:
            twins[id(layer)].set_weights([np.asarray(w) for w in layer.get_weights()])
    return twin


def _with_activation(twin, activation, tf_keras):
    """`twin`, followed by Keras 3's hard sigmoid (relu6(x + 3) / 6) or hard swish (x times it) as standard
    tf_keras layers (shift, ReLU6, scale: the order GhostNet's own hard-swish uses, which TFMOT quantizes
    and XNNPACK runs in int8) when `activation` is one of them."""
    name = getattr(activation, "__name__", None)
    if name not in _REBUILT_ACTIVATIONS:
        return twin
    shift = tf_keras.layers.Rescaling(1.0, offset=3.0, name=f"{twin.name}.hard_sigmoid_shift")
    relu6 = tf_keras.layers.ReLU(max_value=6.0, name=f"{twin.name}.hard_sigmoid_relu6")
    scale = tf_keras.layers.Rescaling(1 / 6, name=f"{twin.name}.hard_sigmoid")

    def call(*args, **kwargs):
        x = twin(*args, **kwargs)
        gate = scale(relu6(shift(x)))
        return gate if name == "hard_sigmoid" else tf_keras.layers.Multiply(name=f"{twin.name}.hard_swish")([x, gate])

    return call


def _input_name(tensor):
    operation = tensor._keras_history.operation
    return operation.name
