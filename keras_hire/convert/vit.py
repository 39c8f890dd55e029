"""Conversion rules for timm's ViT/DeiT/CaiT and the official Aug-ViT state_dicts.

- timm's fused `attn.qkv` projection is split into the `q`, `k`, `v` Dense layers of
  `MultiHeadSelfAttention` (output rows `[q; k; v]`, heads contiguous inside each).
- `cls_token`, `dist_token`, `pos_embed` and CaiT's `gamma_1`/`gamma_2` are variables of
  single-purpose layers named after them.
- `pos_embed` is resampled when the checkpoint's patch grid differs from the model's (another
  input size): bicubic with antialiasing, exactly timm's `resample_abs_pos_embed` defaults
  (`F.interpolate(mode="bicubic", antialias=True, align_corners=False)`), so a converted model
  matches a timm model created at the new size from the same checkpoint.
- Aug-ViT's `index_matrix` buffers are checked against keras_hire's own circulant index and
  otherwise ignored: the layer rebuilds the same index from its shape.
"""

import math

import numpy as np

from keras_hire.convert.rules import Target, dense_kernel, identity, layer_targets, register_rule
from keras_hire.layers import BlockCirculantDense, ClassToken, LayerScale, MultiHeadSelfAttention, PositionEmbedding
from keras_hire.layers.circulant_dense import circulant_index


class _Stacked:
    """Several Keras variables loaded from one official array, split along `axis` (timm's `qkv`)."""

    def __init__(self, variables, axis):
        self.variables = variables
        self.axis = axis
        shapes = [tuple(v.shape) for v in variables]
        total = sum(s[axis] for s in shapes)
        self.shape = shapes[0][:axis] + (total,) + shapes[0][axis + 1:]
        self.dtype = variables[0].dtype

    def assign(self, array):
        sizes = np.cumsum([v.shape[self.axis] for v in self.variables])[:-1]
        for variable, part in zip(self.variables, np.split(array, sizes, axis=self.axis)):
            variable.assign(part)


class _CheckedBuffer:
    """An official buffer with no Keras variable; its transform verifies it, assigning does nothing."""

    def __init__(self, expected):
        self.shape = expected.shape
        self.dtype = expected.dtype

    def assign(self, array):
        del array


@register_rule(MultiHeadSelfAttention)
def _self_attention(prefix, layer):
    targets = {f"{prefix}.qkv.weight": Target(_Stacked([layer.q.kernel, layer.k.kernel, layer.v.kernel], 1),
                                              dense_kernel)}
    if layer.qkv_bias:
        targets[f"{prefix}.qkv.bias"] = Target(_Stacked([layer.q.bias, layer.k.bias, layer.v.bias], 0), identity)
    targets.update(layer_targets(f"{prefix}.proj", layer.proj))
    if layer.talking_heads:
        targets.update(layer_targets(f"{prefix}.proj_l", layer.proj_l))
        targets.update(layer_targets(f"{prefix}.proj_w", layer.proj_w))
    return targets


@register_rule(ClassToken)
def _class_token(prefix, layer):
    return {prefix: Target(layer.token, identity)}


@register_rule(LayerScale)
def _layer_scale(prefix, layer):
    return {prefix: Target(layer.gamma, identity)}


@register_rule(PositionEmbedding)
def _position_embedding(prefix, layer):
    def transform(array):
        if tuple(array.shape) == (1, layer.num_tokens, layer.dim) or array.ndim != 3 or array.shape[-1] != layer.dim:
            return array  # matching, or a mismatch the loader reports with both shapes
        return resize_position_embedding(array, layer.grid_size, layer.num_prefix_tokens)

    return {prefix: Target(layer.embedding, transform)}


@register_rule(BlockCirculantDense)
def _block_circulant(prefix, layer):
    expected = circulant_index(layer.in_features, layer.units, layer.num_blocks)

    def check_index(array):
        if array.shape != expected.shape or not np.array_equal(array, expected):
            raise ValueError(
                f"{prefix}.index_matrix in the checkpoint is not the block-circulant index of a "
                f"{layer.in_features}->{layer.units} layer with {layer.num_blocks}x{layer.num_blocks} blocks; "
                "check num_circulant_blocks."
            )
        return array

    targets = {
        f"{prefix}.weight_list": Target(layer.weight_list, identity),
        f"{prefix}.index_matrix": Target(_CheckedBuffer(expected), check_index),
    }
    if layer.use_bias:
        targets[f"{prefix}.bias"] = Target(layer.bias, identity)
    return targets


def resize_position_embedding(pos_embed, new_grid, num_prefix_tokens=1, old_grid=None):
    """Resamples a `(1, prefix + h*w, dim)` position embedding to the grid `new_grid`.

    Prefix (class/distillation) tokens are kept; the patch grid is resampled with PyTorch's
    antialiased bicubic filter (`F.interpolate(..., mode="bicubic", antialias=True,
    align_corners=False)`), as timm's `resample_abs_pos_embed` does by default.

    Args:
        pos_embed: array `(1, num_prefix_tokens + h * w, dim)`.
        new_grid: `(new_h, new_w)`.
        num_prefix_tokens: int, leading tokens that are not part of the grid.
        old_grid: `(h, w)`; if None the checkpoint's grid must be square.

    Returns:
        The array `(1, num_prefix_tokens + new_h * new_w, dim)`.
    """
    pos_embed = np.asarray(pos_embed, np.float32)
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[0, num_prefix_tokens:]
    if old_grid is None:
        side = math.isqrt(grid.shape[0])
        if side * side != grid.shape[0]:
            raise ValueError(
                f"Cannot resize a position embedding of {grid.shape[0]} patch tokens (plus {num_prefix_tokens} "
                "prefix tokens): it is not a square grid; pass old_grid=(h, w)."
            )
        old_grid = (side, side)
    dim = grid.shape[-1]
    grid = grid.reshape(old_grid[0], old_grid[1], dim)
    rows = _bicubic_aa_matrix(old_grid[0], new_grid[0])
    cols = _bicubic_aa_matrix(old_grid[1], new_grid[1])
    grid = np.einsum("ih,hwc,jw->ijc", rows, grid, cols).reshape(1, -1, dim)
    return np.concatenate([prefix, grid], axis=1).astype(np.float32)


def _bicubic_aa_matrix(in_size, out_size):
    """The `(out, in)` matrix of PyTorch's antialiased bicubic resampling along one axis (a = -0.5)."""
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    inv_scale = 1.0 / scale if scale >= 1.0 else 1.0
    matrix = np.zeros((out_size, in_size), np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        start = max(int(center - support + 0.5), 0)
        stop = min(int(center + support + 0.5), in_size)
        weights = np.array([_cubic((j - center + 0.5) * inv_scale) for j in range(start, stop)])
        matrix[i, start:stop] = weights / weights.sum()
    return matrix


def _cubic(x, a=-0.5):
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0
