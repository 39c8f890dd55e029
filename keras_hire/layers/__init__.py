"""Reusable Keras layers, written with `keras.ops` only (TensorFlow and JAX backends)."""

from keras_hire.layers.drop_path import DropPath
from keras_hire.layers.hire_module import HireModule
from keras_hire.layers.static_shift import circular_indices, take_static

__all__ = ["DropPath", "HireModule", "circular_indices", "take_static"]
