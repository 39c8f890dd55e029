"""Model accounting (MACs, as the papers count FLOPs, and parameters), configs, atomic writes, tables.

TensorFlow-free at import time (`keras_hire/__init__.py` imports it eagerly, also on the JAX
backend): keep every module here pure Python/numpy, with heavier imports inside functions.
`keras_hire.utils.flags` (absl flags from configs) is imported by the binaries by name.
"""

from keras_hire.utils.atomic import atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text
from keras_hire.utils.config import Config, ConfigError, config_field
from keras_hire.utils.macs import count_macs, count_params
from keras_hire.utils.markdown import markdown_table, megabytes

__all__ = ["Config", "ConfigError", "atomic_save", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "config_field", "count_macs", "count_params", "markdown_table", "megabytes"]
