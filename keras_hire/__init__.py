"""keras_hire: efficient vision models from Huawei Noah's Ark Lab papers, in Keras 3."""

import importlib

__version__ = "0.1.0"

from keras_hire import convert, layers, models, utils  # noqa: E402  (keras-only, backend-agnostic)

__all__ = ["convert", "layers", "models", "utils"]

# TensorFlow-only subpackages load on first use, so that `import keras_hire` works on the
# JAX backend in an environment without TensorFlow.
_LAZY_SUBPACKAGES = ("benchmark", "data", "deploy", "export", "training")


def __getattr__(name):
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"keras_hire.{name}")
    raise AttributeError(f"module 'keras_hire' has no attribute '{name}'")
