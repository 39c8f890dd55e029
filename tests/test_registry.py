"""Registry-wide checks (timm-style): every registered model keeps its pinned parameter count,
builds, runs, round-trips through .keras and exports to a builtins-only batch-1 TFLite file.

The run/round-trip/export checks use each registered configuration (widths, heads, regions,
shortcut modes, ...) at a small input with one block per stage, which keeps the suite within
its time budget on 2 CPU cores; full-depth exports are exercised by benchmarks/."""

import numpy as np
import pytest

import keras_hire
from tests.model_checks import assert_keras_roundtrip, assert_tflite_matches

# Trainable parameters at the default input size and 1000 classes, equal to the official
# implementations' `sum(p.numel() for p in model.parameters())`.
PINNED_PARAMS = {
    "hire_mlp_tiny": 18_041_672,
    "hire_mlp_small": 33_113_848,
    "hire_mlp_base": 58_226_856,
    "hire_mlp_large": 95_723_944,
    "cmt_tiny": 9_492_426,
    "cmt_xs": 15_247_208,
    "cmt_small": 26_256_160,
    "cmt_base": 45_715_076,
    "deit_tiny": 5_717_416,
    "deit_small": 22_050_664,
    "deit_base": 86_567_656,
    "deit_tiny_distilled": 5_910_800,
    "deit_small_distilled": 22_436_432,
    "deit_base_distilled": 87_338_192,
    "vit_base_patch16": 86_567_656,
    "cait_s24": 46_916_200,
    "aug_vit_small": 22_142_824,
    "aug_vit_base": 86_751_976,
}

# Per family (registry-name prefix): the input side in pixels and the overrides that leave
# one block per stage.
SMALL_CONFIGS = {
    "hire_mlp_": (32, dict(depths=(1, 1, 1, 1))),
    "cmt_": (64, dict(depths=(1, 1, 1, 1))),
    "deit_": (32, dict(depth=1)),
    "vit_": (32, dict(depth=1)),
    "aug_vit_": (32, dict(depth=1)),
    "cait_": (32, dict(depth=1, class_attention_depth=1)),
}

ALL_MODELS = keras_hire.models.list_models()


def _small_model(name):
    configs = [config for prefix, config in SMALL_CONFIGS.items() if name.startswith(prefix)]
    assert configs, f"add the family of '{name}' to SMALL_CONFIGS in tests/test_registry.py"
    side, shallow = configs[0]
    model = keras_hire.models.create_model(name, num_classes=10, input_shape=(side, side, 3), **shallow)
    inputs = np.random.RandomState(0).rand(2, side, side, 3).astype(np.float32)
    return model, inputs


def test_every_registered_model_has_a_pinned_parameter_count():
    assert sorted(PINNED_PARAMS) == ALL_MODELS


@pytest.mark.parametrize("name", ALL_MODELS)
def test_pinned_parameter_count(name):
    assert keras_hire.utils.count_params(keras_hire.models.create_model(name)) == PINNED_PARAMS[name]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_builds_runs_and_round_trips_at_a_small_input(name, tmp_path):
    model, inputs = _small_model(name)
    outputs = model.predict(inputs, verbose=0)
    assert outputs.shape == (2, 10) and np.all(np.isfinite(outputs))
    assert_keras_roundtrip(model, inputs, str(tmp_path))


@pytest.mark.parametrize("name", ALL_MODELS)
def test_exports_to_builtins_only_tflite_matching_keras(name, tmp_path):
    model, inputs = _small_model(name)
    assert_tflite_matches(model, inputs, str(tmp_path))
