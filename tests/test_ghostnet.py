"""GhostNet and S-GhostNet: timm counts and MACs, parity with a reduced timm GhostNet, block tables,
pyramid features, XNNPACK coverage (float32 and int8) and bad input."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights
from keras_hire.models import GhostNet
from keras_hire.models.ghostnet import ghostnet_blocks, timm_group_names
from tests.model_checks import relative_error
from tests.test_vit import TIMM_SOURCES, state_of, timm_reference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# MACs at the default size: GhostNet 1x 141 M (the paper's 141 MFLOPs); S-GhostNet b1 and b4 are the
# paper's ~600 M and 4.4 G models.
# (ghostnet_050 42.33 M, ghostnet_130 227.00 M and s_ghostnet_b4 4499.33 M are in docs/enlarging.md: too slow here.)
MMACS = {"ghostnet_100": 141.15, "s_ghostnet_b1": 582.77}
# The reduced timm model of make_timm_fixtures.CASES["ghostnet_100"] as a keras_hire configuration.
REDUCED = dict(stage_channels=(8, 12, 16, 24, 28, 32), stage_depths=(1, 2, 2, 3, 2, 3), stem_channels=16,
               num_classes=5, input_shape=(64, 64, 3))
# timm's ghostnet cfgs (k, expansion, channels, SE ratio, stride) per block group: the GhostNet paper's table 1.
TIMM_TABLE = [
    [[3, 16, 16, 0, 1]], [[3, 48, 24, 0, 2]], [[3, 72, 24, 0, 1]], [[5, 72, 40, 0.25, 2]], [[5, 120, 40, 0.25, 1]],
    [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]


@pytest.mark.parametrize("name", sorted(MMACS))
def test_macs_match_the_papers(name):
    model = keras_hire.models.create_model(name)
    assert keras_hire.utils.count_macs(model) / 1e6 == pytest.approx(MMACS[name], abs=0.01)


def test_the_ghostnet_block_table_and_group_names_are_timms():
    stages = ghostnet_blocks((16, 24, 40, 80, 112, 160), (1, 2, 2, 4, 2, 5))
    names, groups = timm_group_names(stages)
    flat = [block for blocks in stages for block in blocks]
    table = {}
    for name, block in zip(names, flat):
        table.setdefault(int(name.split(".")[1]), []).append(
            [block.kernel, block.expansion, block.channels, 0.25 if block.se_channels else 0, block.stride])
    assert [table[g] for g in range(groups)] == TIMM_TABLE
    assert [b.se_channels for b in flat if b.se_channels] == [20, 32, 120, 168, 168, 240, 240]  # timm's rd widths


def test_s_ghostnet_follows_the_large_generator():
    b1 = ghostnet_blocks((28, 44, 72, 140, 196, 280), (1, 2, 3, 4, 3, 6), block_style="large")
    assert [b.expansion for b in b1[3]] == [432, 352, 352, 352]  # 6 * 72, then 2.5 * 140 rounded to 4
    assert all(b.se_channels == max(8, int(b.expansion * 0.1 + 4) // 8 * 8) for s in b1 for b in s)  # SE 0.1, /8
    model = keras_hire.models.SGhostNetB1(include_top=True)
    assert model.get_layer("conv_head").units == 1400  # max(1280, 5 * 280)
    assert model.inputs[0].shape[1:3] == (240, 240)
    assert keras_hire.models.model_info("s_ghostnet_b4").input_size == (384, 384)


@pytest.mark.parametrize("source", TIMM_SOURCES)
def test_reduced_ghostnet_logits_and_group_outputs_equal_timm(source, tmp_path):
    reference = timm_reference("ghostnet_100", source, tmp_path)
    model = GhostNet(**REDUCED)
    state = state_of(reference)
    assert len(load_pytorch_weights(model, state)) == len(state)  # every timm tensor has its place
    x = reference["input_nhwc"]
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4
    names, groups = timm_group_names(model.blocks)
    ends = [max(n for n in names if n.startswith(f"blocks.{g}.")) + ".add" for g in range(groups)]
    taps = keras.Model(model.inputs, [model.get_layer(n).output for n in ends + [f"blocks.{groups}.0.act"]])
    for i, (got, expected) in enumerate(zip(taps.predict(x, verbose=0), [reference[f"block_{i}"] for i in
                                                                           range(groups + 1)])):
        assert relative_error(got, expected.transpose(0, 2, 3, 1)) < 1e-4, f"blocks.{i}"


def test_parity_fails_when_one_batch_norm_statistic_is_left_at_its_init():
    reference = timm_reference("ghostnet_100", "fixture", None)
    state = state_of(reference)
    state["blocks.6.2.ghost1.cheap_operation.1.running_var"] = np.ones_like(
        state["blocks.6.2.ghost1.cheap_operation.1.running_var"])
    model = GhostNet(**REDUCED)
    load_pytorch_weights(model, state)
    assert relative_error(model.predict(reference["input_nhwc"], verbose=0), reference["logits"]) > 5e-4


def test_a_new_head_can_be_kept_and_a_wrong_width_is_named():
    state = state_of(timm_reference("ghostnet_100", "fixture", None))
    model = GhostNet(**{**REDUCED, "num_classes": 3})
    assert "classifier.weight" not in load_pytorch_weights(model, state, skip=("classifier.",))
    with pytest.raises(ValueError, match="conv_stem.weight"):
        load_pytorch_weights(GhostNet(**{**REDUCED, "stem_channels": None}), state)


def test_pyramid_features_have_strides_4_to_32_and_the_stage_widths():
    model = keras_hire.models.GhostNet100(input_shape=(64, 96, 3), num_classes=10)
    assert model.embed_dims == (24, 40, 112, 160)
    features = model.feature_extractor().predict(np.zeros((1, 64, 96, 3), np.float32), verbose=0)
    assert {k: v.shape for k, v in features.items()} == {
        "stage1": (1, 16, 24, 24), "stage2": (1, 8, 12, 40), "stage3": (1, 4, 6, 112), "stage4": (1, 2, 3, 160)}


def test_only_standard_keras_layers_are_used():
    model = GhostNet(**{**REDUCED, "block_style": "large", "drop_path_rate": 0.1})
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds == {"InputLayer", "ZeroPadding2D", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU",
                     "Rescaling", "Multiply", "Concatenate", "GlobalAveragePooling2D", "Add", "Dense", "Dropout",
                     "DropPath"}


@pytest.mark.slow  # four conversions in a child, 80 s on 2 cores (int8 GhostNet conversion is slow)
def test_every_variant_runs_wholly_on_xnnpack_in_float32_and_int8(tmp_path):
    out = tmp_path / "facts.json"
    child = os.path.join(REPO, "tests", "ghostnet_tflite_child.py")
    subprocess.run([sys.executable, child, str(out), "ghostnet_100", "s_ghostnet_b1"], check=True, cwd=REPO,
                   capture_output=True, timeout=600)
    facts = json.loads(out.read_text())
    for name, files in facts.items():
        assert files["float32"]["not_delegated"] == {} and files["int8"]["not_delegated"] == {}, name
        assert files["float32"]["max_error"] < 1e-4 * max(1.0, files["float32"]["scale"]), name
        assert files["int8"]["max_error"] < 0.1 * files["int8"]["scale"], name
        assert files["int8"]["top1_agreement"] >= 0.75, name
        assert "HARD_SWISH" not in files["int8"]["ops"]  # the int8 op XNNPACK does not take


@pytest.mark.parametrize("arguments,match", [
    (dict(stage_depths=(1, 2, 2, 4, 2)), "6 stages"),
    (dict(stage_channels=(16, 24, 0, 80, 112, 160)), "at least one block and one channel"),
    (dict(block_style="big"), "block_style must be one of"),
    (dict(width=0), "width must be a positive"),
    (dict(input_shape=(16, 16, 3)), "at least 32 pixels"),
    (dict(num_classes=0), "num_classes must be an int >= 1"),
])
def test_bad_configurations_name_the_fix(arguments, match):
    with pytest.raises(ValueError, match=match):
        GhostNet(**arguments)
