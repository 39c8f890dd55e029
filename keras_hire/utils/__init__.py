"""Model accounting: MACs (as the papers count FLOPs) and parameter counts."""

from keras_hire.utils.macs import count_macs, count_params

__all__ = ["count_macs", "count_params"]
