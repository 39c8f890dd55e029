"""Reusable Keras layers, written with `keras.ops` only (TensorFlow and JAX backends)."""

from keras_hire.layers.attention import MultiHeadSelfAttention
from keras_hire.layers.circulant_dense import BlockCirculantDense, circulant_index
from keras_hire.layers.class_attention import ClassAttention
from keras_hire.layers.cmt_attention import LightweightAttention
from keras_hire.layers.cmt_ffn import InvertedResidualFFN
from keras_hire.layers.cmt_position_bias import RelativePositionBias, resize_relative_position_bias
from keras_hire.layers.drop_path import DropPath
from keras_hire.layers.hire_module import HireModule
from keras_hire.layers.layer_norm import LayerNorm
from keras_hire.layers.layer_scale import LayerScale
from keras_hire.layers.residual_depthwise import ResidualDepthwiseConv2D
from keras_hire.layers.resolution_batch_norm import ResolutionBatchNorm
from keras_hire.layers.scaled_add import ScaledAdd
from keras_hire.layers.static_shift import circular_indices, take_static
from keras_hire.layers.token_select import StaticTokenSelect
from keras_hire.layers.token_slice import TokenSlice
from keras_hire.layers.vit_embeddings import ClassToken, PositionEmbedding

__all__ = ["DropPath", "HireModule", "circular_indices", "take_static"]
__all__ += ["InvertedResidualFFN", "LightweightAttention", "RelativePositionBias", "resize_relative_position_bias"]
__all__ += ["BlockCirculantDense", "ClassAttention", "ClassToken", "LayerNorm", "LayerScale", "MultiHeadSelfAttention"]
__all__ += ["PositionEmbedding", "ResidualDepthwiseConv2D", "ScaledAdd", "StaticTokenSelect", "TokenSlice"]
__all__ += ["circulant_index"]
__all__ += ["ResolutionBatchNorm"]
