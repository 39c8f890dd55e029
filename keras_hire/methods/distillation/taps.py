"""Where a model's tokens are read: block outputs of token models, stage maps of CNN/MLP models.

- ViT/DeiT/Aug-ViT/CaiT (`TokenBackbone`): tap i is `intermediate_outputs["block_{i}"]`, a
  `[B, prefix + H * W, C]` tensor (`model.num_prefix_tokens` class/distillation tokens first).
  CaiT's taps are its patch blocks (no class token); its class-attention blocks are not taps.
- CMT, Hire-MLP and other pyramids: tap i is the i-th stage map of `model.pyramid_outputs`
  (`"stage1"`, ...), `[B, H, W, C]`, flattened row-major to `[B, H * W, C]` tokens.

`plan_layer_pairs` checks a list of (student tap, teacher tap) pairs once, when the distiller is
built, and decides for each pair which side's patches are merged (m x m, see `tokens.py`) so that
both have the same token count; `pair_tokens` applies that plan to the tensors of a step.
"""

import dataclasses
import re

import keras

from keras_hire.methods.distillation.tokens import flatten_map, merge_factor, merge_tokens

PAPER_PAIRS_MAX = 8  # the paper pairs 8 layers: the first 4 and the last 4 of each model


@dataclasses.dataclass(frozen=True)
class Tap:
    """One tappable layer: its output name in the tap model, prefix tokens and patch grid (H, W)."""

    name: str
    num_prefix: int
    grid: tuple


@dataclasses.dataclass(frozen=True)
class LayerPair:
    """A checked (student tap, teacher tap) pair and the patch merging that equalises their counts."""

    student: Tap
    teacher: Tap
    student_merge: int = 1
    teacher_merge: int = 1


def list_taps(model, role="teacher"):
    """The model's taps in depth order (`Tap`s), or a ValueError naming the fix when it has none."""
    intermediates = getattr(model, "intermediate_outputs", None) or {}
    blocks = sorted((int(m.group(1)), name) for name in intermediates
                    if (m := re.fullmatch(r"block_(\d+)", name)))
    if blocks:
        prefix = int(getattr(model, "num_prefix_tokens", 0))
        pyramid = getattr(model, "pyramid_outputs", {}) or {}
        taps = []
        for _, name in blocks:
            grid_map = pyramid.get(name)
            patches = intermediates[name].shape[1] - prefix
            grid = tuple(grid_map.shape[1:3]) if grid_map is not None else _square_grid(patches, model, name)
            taps.append(Tap(name, prefix, grid))
        return taps
    pyramid = getattr(model, "pyramid_outputs", None) or {}
    stages = [name for name, tensor in pyramid.items() if len(tensor.shape) == 4]
    if stages:
        return [Tap(name, 0, tuple(pyramid[name].shape[1:3])) for name in stages]
    raise ValueError(f"The {role} '{model.name}' ({type(model).__name__}) has no token or stage outputs "
                     "(no intermediate_outputs 'block_i' and no pyramid_outputs maps), so manifold distillation "
                     f"cannot read its layers. Fix: use a keras_hire registry {role} (ViT/DeiT/CaiT/Aug-ViT, CMT or "
                     "Hire-MLP), or --distillation=soft/hard, which need only its logits.")


def _square_grid(patches, model, name):
    side = int(round(patches ** 0.5))
    if side * side != patches:
        raise ValueError(f"'{model.name}' {name}: {patches} patch tokens are not a square grid and the model has "
                         "no pyramid map giving its shape. Fix: expose pyramid_outputs[name] as a [B, H, W, C] map.")
    return (side, side)


def default_layers(num_student, num_teacher):
    """The paper's pattern for any depths: the first ceil(k/2) and last floor(k/2) taps of each model,
    k = min(8, depths). DeiT-Ti (12 blocks) <- CaiT-S24 (24) gives the paper's
    `[0, 1, 2, 3, 8, 9, 10, 11]` <- `[0, 1, 2, 3, 20, 21, 22, 23]`."""
    count = min(PAPER_PAIRS_MAX, num_student, num_teacher)
    first, last = (count + 1) // 2, count // 2

    def pick(total):
        return list(range(first)) + list(range(total - last, total))

    return pick(num_student), pick(num_teacher)


def plan_layer_pairs(student, teacher, student_layers=None, teacher_layers=None):
    """Checks the layer lists against both models and returns one `LayerPair` per pair.

    Args:
        student, teacher: the models.
        student_layers, teacher_layers: tap indices (block i of a token model, stage i + 1 of a
            pyramid), the same number of each; both empty/None picks `default_layers`.
    """
    student_taps, teacher_taps = list_taps(student, "student"), list_taps(teacher, "teacher")
    student_layers, teacher_layers = list(student_layers or ()), list(teacher_layers or ())
    if not student_layers and not teacher_layers:
        student_layers, teacher_layers = default_layers(len(student_taps), len(teacher_taps))
    if len(student_layers) != len(teacher_layers):
        raise ValueError(f"student_layers {student_layers} and teacher_layers {teacher_layers} have different lengths "
                         f"({len(student_layers)} and {len(teacher_layers)}); layer i of one is matched with layer i "
                         "of the other. Fix: give as many teacher layers as student layers, or leave both empty for "
                         "the default pairs.")
    for role, layers, taps, model in (("student", student_layers, student_taps, student),
                                      ("teacher", teacher_layers, teacher_taps, teacher)):
        bad = [index for index in layers if not 0 <= index < len(taps)]
        if bad:
            raise ValueError(f"{role}_layers {layers}: {bad} out of range; '{model.name}' has {len(taps)} tappable "
                             f"layers ({taps[0].name} .. {taps[-1].name}), indices 0..{len(taps) - 1}. Fix: use "
                             f"indices in 0..{len(taps) - 1}.")
    return [_plan_pair(student_taps[s], teacher_taps[t]) for s, t in zip(student_layers, teacher_layers)]


def _plan_pair(student_tap, teacher_tap):
    s_grid, t_grid = student_tap.grid, teacher_tap.grid
    if s_grid == t_grid:
        return LayerPair(student_tap, teacher_tap)
    if s_grid[0] * s_grid[1] < t_grid[0] * t_grid[1]:
        factor = merge_factor(t_grid, s_grid)
        pair = LayerPair(student_tap, teacher_tap, teacher_merge=factor or 0)
    else:
        factor = merge_factor(s_grid, t_grid)
        pair = LayerPair(student_tap, teacher_tap, student_merge=factor or 0)
    if factor is None:
        raise ValueError(f"Student {student_tap.name} has a {s_grid[0]}x{s_grid[1]} patch grid and teacher "
                         f"{teacher_tap.name} a {t_grid[0]}x{t_grid[1]} one; patch merging needs one grid to be a "
                         "whole multiple m of the other on both axes. Fix: pair layers of matching strides (e.g. a "
                         "14x14 DeiT block with a stride-16 CMT stage) or change the input size.")
    return pair


def pair_tokens(pair, student_output, teacher_output):
    """The `[B, N, C]` patch tokens of one pair, prefix tokens dropped and the finer grid merged."""
    return (_patch_tokens(student_output, pair.student, pair.student_merge),
            _patch_tokens(teacher_output, pair.teacher, pair.teacher_merge))


def _patch_tokens(output, tap, factor):
    tokens = flatten_map(output) if len(output.shape) == 4 else output[:, tap.num_prefix:, :]
    return merge_tokens(tokens, tap.grid, factor) if factor > 1 else tokens


def tap_model(model, taps, role="teacher"):
    """A `keras.Model` from the images to a dict: `"logits"` (the model's output), the distilled DeiT
    heads `"logits_cls"`/`"logits_dist"` when present, and each tap's output by name. It shares the
    model's layers and weights."""
    intermediates = getattr(model, "intermediate_outputs", None) or {}
    if "logits" in intermediates and all(name in intermediates for name in taps) and hasattr(model,
                                                                                              "intermediate_model"):
        heads = [head for head in ("logits", "logits_cls", "logits_dist") if head in intermediates]
        return model.intermediate_model(heads + list(taps))  # ViT family: its own tap model
    pyramid = getattr(model, "pyramid_outputs", None) or {}
    outputs = {"logits": model.outputs[0]}
    for head in ("logits_cls", "logits_dist"):
        if head in intermediates:
            outputs[head] = intermediates[head]
    for name in taps:
        outputs[name] = intermediates[name] if name in intermediates else pyramid[name]
    return keras.Model(model.inputs[0], outputs, name=f"{model.name}_{role}_taps")
