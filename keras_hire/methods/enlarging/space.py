"""The search space of greedy enlarging: a GhostNet's per-stage widths and depths and its resolution.

A step's candidates each change one thing (one stage's depth, one stage's width, or the input
resolution) by the smallest amount whose MACs come closest to one increment, priced by the
analytic `ghostnet_macs` (equal to `count_macs` of the built model).
"""

import dataclasses
import math
from typing import Tuple

from keras_hire.models.ghostnet import ghostnet_macs, ghostnet_stage_macs, make_divisible

_WIDTH_STEP = 4  # channels are multiples of 4 (the official rounding)
_RESOLUTION_STEP = 2


@dataclasses.dataclass(frozen=True)
class EnlargeState:
    """One GhostNet in the search: widths (already multiplied, width 1.0), depths, resolution."""

    stage_channels: Tuple[int, ...]
    stage_depths: Tuple[int, ...]
    resolution: int
    stem_channels: int
    block_style: str = "ghostnet"

    def model_kwargs(self):
        """Constructor arguments of the state's GhostNet (the input size goes through image_size)."""
        return dict(stage_channels=list(self.stage_channels), stage_depths=list(self.stage_depths), width=1.0,
                    stem_channels=self.stem_channels, block_style=self.block_style)

    def macs(self, num_classes):
        return ghostnet_macs(self.stage_channels, self.stage_depths, 1.0, self.block_style, self.resolution,
                             num_classes, self.stem_channels)

    def stage_macs(self, num_classes):
        return ghostnet_stage_macs(self.stage_channels, self.stage_depths, 1.0, self.block_style, self.resolution,
                                   num_classes, self.stem_channels)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        return cls(**{**values, "stage_channels": tuple(values["stage_channels"]),
                      "stage_depths": tuple(values["stage_depths"])})


def base_state(model):
    """The search state of a built GhostNet: its widths times its multiplier, rounded as it rounds them."""
    width = model.width
    stem = model.stem_channels if model.stem_channels is not None else model.stage_channels[0]
    return EnlargeState(
        stage_channels=tuple(make_divisible(c * width) for c in model.stage_channels),
        stage_depths=tuple(model.stage_depths), resolution=int(model.inputs[0].shape[1]),
        stem_channels=make_divisible(stem * width), block_style=model.block_style)


def _closest(state, changed, start, step, limit, target, num_classes):
    """The `changed(state, value)` whose MAC increase is closest to `target`; None if `limit` stops it first."""
    base = state.macs(num_classes)
    best, value = None, start
    while value <= limit:
        candidate = changed(state, value)
        delta = candidate.macs(num_classes) - base
        if best is None or abs(delta - target) < abs(best[1] - target):
            best = (candidate, delta)
        if delta >= target:
            return best[0]
        value += step
    return best[0] if best and best[1] >= 0.5 * target else None  # at the limit: only if about one increment


def _with_depth(state, stage, depth):
    depths = list(state.stage_depths)
    depths[stage] = depth
    return dataclasses.replace(state, stage_depths=tuple(depths))


def _with_channels(state, stage, channels):
    widths = list(state.stage_channels)
    widths[stage] = channels
    return dataclasses.replace(state, stage_channels=tuple(widths))


def candidates(state, increment, num_classes, max_depth, max_channels, max_resolution, stages=None):
    """`{key: EnlargeState}`: `depth<i>`, `width<i>` for each of `stages` (default all) and `resolution`,
    each about +`increment` MACs."""
    found = {}
    for stage in range(len(state.stage_depths)) if stages is None else stages:
        found[f"depth{stage}"] = _closest(state, lambda s, v, i=stage: _with_depth(s, i, v),
                                          state.stage_depths[stage] + 1, 1, max_depth, increment, num_classes)
        found[f"width{stage}"] = _closest(state, lambda s, v, i=stage: _with_channels(s, i, v),
                                          state.stage_channels[stage] + _WIDTH_STEP, _WIDTH_STEP, max_channels,
                                          increment, num_classes)
    found["resolution"] = _closest(state, lambda s, v: dataclasses.replace(s, resolution=v),
                                   state.resolution + _RESOLUTION_STEP, _RESOLUTION_STEP, max_resolution,
                                   increment, num_classes)
    return {key: value for key, value in found.items() if value is not None}


def largest_state(state, max_depth, max_channels, max_resolution):
    """Every dimension at its limit: the most MACs the search space holds."""
    stages = len(state.stage_depths)
    return dataclasses.replace(state, stage_depths=(max_depth,) * stages, stage_channels=(max_channels,) * stages,
                               resolution=max_resolution)


def compound_state(base, phi, coefficients):
    """EfficientNet's compound rule: depth x alpha^phi, width x beta^phi, resolution x gamma^phi."""
    alpha, beta, gamma = coefficients
    return dataclasses.replace(
        base,
        stage_depths=tuple(int(math.ceil(d * alpha ** phi)) for d in base.stage_depths),
        stage_channels=tuple(make_divisible(c * beta ** phi) for c in base.stage_channels),
        resolution=int(round(base.resolution * gamma ** phi / _RESOLUTION_STEP)) * _RESOLUTION_STEP)


def width_state(base, multiplier):
    """Width-only scaling: every stage's channels (and the stem) times `multiplier`."""
    return dataclasses.replace(base, stage_channels=tuple(make_divisible(c * multiplier) for c in base.stage_channels),
                               stem_channels=make_divisible(base.stem_channels * multiplier))


def match_macs(make, target, num_classes, low=0.0, high=8.0, points=1600):
    """The `make(x)` for x on a grid of [low, high] whose MACs are closest to `target` (rounding is not monotone)."""
    best = None
    for i in range(points + 1):
        state = make(low + (high - low) * i / points)
        gap = abs(state.macs(num_classes) - target)
        if best is None or gap < best[1]:
            best = (state, gap)
    return best[0]
