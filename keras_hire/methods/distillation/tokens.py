"""Token tensors from any backbone: stage maps flattened to tokens, and patch merging.

Manifold distillation compares `[B, N, C]` token tensors. A CNN/MLP teacher (CMT, Hire-MLP) gives
`[B, H, W, C]` stage maps instead, flattened row-major to `[B, H * W, C]`. When student and teacher
patch counts differ, the finer grid is merged: every m x m block of adjacent patches becomes one
token whose channels are the m * m patches concatenated in (row, column, channel) order, as the
official `merge()` does (`view(B, m, k, m, k, C).permute(0, 1, 3, 2, 4, 5)`).
"""

from keras import ops


def flatten_map(feature_map):
    """`[B, H, W, C]` -> `[B, H * W, C]`, token `h * W + w` = pixel (h, w).

    Example:
    ```python
    tokens = flatten_map(cmt.pyramid_outputs["stage3"])   # [B, 14, 14, 184] -> [B, 196, 184]
    ```
    """
    if len(feature_map.shape) != 4:
        raise ValueError(f"flatten_map: expected a [batch, height, width, channels] map; got shape "
                         f"{tuple(feature_map.shape)}. Fix: pass a stage map of model.pyramid_outputs.")
    _, height, width, channels = feature_map.shape
    return ops.reshape(feature_map, (-1, height * width, channels))


def merge_tokens(tokens, grid, factor):
    """Merges every `factor x factor` block of adjacent patch tokens into one token.

    Args:
        tokens: `[B, H * W, C]` patch tokens (no class token) of a row-major `grid`.
        grid: `(H, W)`, both divisible by `factor`.
        factor: m; the result has `(H / m) * (W / m)` tokens of `m * m * C` channels.

    Example:
    ```python
    merged = merge_tokens(stage1_tokens, (56, 56), 4)   # [B, 3136, 64] -> [B, 196, 1024]
    ```
    """
    height, width = grid
    if factor < 1 or height % factor or width % factor:
        raise ValueError(f"merge_tokens: a {height}x{width} grid cannot be merged in {factor}x{factor} blocks. "
                         "Fix: pair layers whose grids differ by a whole factor (e.g. 28x28 with 14x14).")
    if factor == 1:
        return tokens
    channels = tokens.shape[-1]
    rows, cols = height // factor, width // factor
    blocks = ops.reshape(tokens, (-1, rows, factor, cols, factor, channels))
    blocks = ops.transpose(blocks, (0, 1, 3, 2, 4, 5))  # [B, rows, cols, m, m, C]
    return ops.reshape(blocks, (-1, rows * cols, factor * factor * channels))


def merge_factor(fine_grid, coarse_grid):
    """The m with `fine_grid == m * coarse_grid` on both axes, or None when there is none."""
    (fine_h, fine_w), (coarse_h, coarse_w) = fine_grid, coarse_grid
    if fine_h % coarse_h or fine_w % coarse_w or fine_h // coarse_h != fine_w // coarse_w:
        return None
    return fine_h // coarse_h
