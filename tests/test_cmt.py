"""CMT: official parameter counts and MACs, parity with the official model, resized biases, I/O contracts."""

import os

import keras
import numpy as np
import pytest

import keras_hire
from keras_hire.layers import RelativePositionBias, resize_relative_position_bias
from tests.conftest import FIXTURES
from tests.model_checks import assert_matches_fixture, fixture_state, write_pth

FIXTURE = os.path.join(FIXTURES, "cmt_official_small_config.npz")
# The fixture's official configuration: CMT(img_size=96, embed_dims=[12, 24, 36, 48], stem_channel=8,
# fc_dim=64, num_heads=[1, 2, 3, 4], mlp_ratios=[4] * 4, depths=[1, 2, 1, 1], sr_ratios=[8, 4, 2, 1]).
FIXTURE_CONFIG = dict(
    embed_dims=(12, 24, 36, 48), stem_channels=8, fc_dim=64, num_heads=(1, 2, 3, 4), mlp_ratios=(4, 4, 4, 4),
    depths=(1, 2, 1, 1), kv_reductions=(8, 4, 2, 1), num_classes=7, input_shape=(96, 96, 3),
)
TINY_CONFIG = dict(
    embed_dims=(8, 16, 24, 32), stem_channels=8, fc_dim=32, num_heads=(1, 2, 2, 4), mlp_ratios=(2, 2, 2, 2),
    depths=(1, 1, 1, 1), num_classes=5, input_shape=(64, 64, 3),
)

# sum(p.numel() for p in model.parameters()) of the official cmt_{ti,xs,s,b} built at these sizes.
OFFICIAL_PARAMS = {"cmt_tiny": 9_492_426, "cmt_xs": 15_247_208, "cmt_small": 26_256_160, "cmt_base": 45_715_076}
PAPER_GMACS = {"cmt_tiny": 0.639, "cmt_xs": 1.547, "cmt_small": 4.032, "cmt_base": 9.317}
DEFAULT_SIZES = {"cmt_tiny": 160, "cmt_xs": 192, "cmt_small": 224, "cmt_base": 256}
HEAD_DROPOUT = {"cmt_tiny": 0.1, "cmt_xs": 0.1, "cmt_small": 0.1, "cmt_base": 0.3}  # the official `dp`


def _fixture_model(**overrides):
    model = keras_hire.models.CMT(**{**FIXTURE_CONFIG, **overrides})
    keras_hire.convert.load_pytorch_weights(model, FIXTURE)
    return model


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_variant_parameter_counts_and_macs_equal_the_official_ones(name):
    model = keras_hire.models.create_model(name)
    assert model.input_shape == (None, DEFAULT_SIZES[name], DEFAULT_SIZES[name], 3)
    assert model.dropout == HEAD_DROPOUT[name] and model.get_layer("_drop").rate == HEAD_DROPOUT[name]
    assert keras_hire.utils.count_params(model) == OFFICIAL_PARAMS[name]
    gmacs = keras_hire.utils.count_macs(model) / 1e9
    assert gmacs == pytest.approx(PAPER_GMACS[name], rel=0.02)


def test_named_variants_are_the_registered_configurations():
    model = keras_hire.models.CMTXS(num_classes=10, input_shape=(64, 64, 3), include_top=True)
    assert model.embed_dims == (52, 104, 208, 416) and model.depths == (3, 3, 12, 3)
    assert model.mlp_ratios == (3.77,) * 4 and model.stem_channels == 16 and model.fc_dim == 1280
    assert model.num_heads == (1, 2, 4, 8) and model.kv_reductions == (8, 4, 2, 1)
    assert model.output_shape == (None, 10) and model.name == "cmt_xs"
    assert set(keras_hire.models.list_models("cmt_")) == set(OFFICIAL_PARAMS)
    # int(dim * ratio), as the official Block: int(52 * 3.77) = 196.
    assert model.get_layer("blocks_a.0.mlp").hidden_dim == 196


def test_create_model_accepts_every_generic_argument_as_override():
    overrides = dict(TINY_CONFIG, kv_reductions=(4, 2, 2, 1), drop_path_rate=0.1, dropout=0.2, include_top=True)
    model = keras_hire.models.create_model("cmt_small", **overrides)
    config = model.get_config()
    for key, value in overrides.items():
        assert config[key] == (tuple(value) if isinstance(value, tuple) else value), key


def test_logits_equal_the_official_model_on_the_fixture():
    model = keras_hire.models.CMT(**FIXTURE_CONFIG)
    assert len(assert_matches_fixture(model, FIXTURE)) == len(model.weights)


@pytest.mark.timm  # the loader reads .pth files with torch
def test_weights_load_from_a_pth_file(tmp_path):
    path = write_pth(fixture_state(FIXTURE), str(tmp_path / "cmt.pth"))
    assert_matches_fixture(keras_hire.models.CMT(**FIXTURE_CONFIG), FIXTURE, path)


def test_each_stage_holds_one_bias_shared_by_its_blocks():
    model = _fixture_model()
    biases = [w for w in model.weights if "relative_pos" in w.path]
    assert [tuple(w.shape) for w in biases] == [(1, 576, 9), (2, 144, 9), (3, 36, 9), (4, 9, 9)]
    np.testing.assert_array_equal(model.get_layer("relative_pos_b").bias, fixture_state(FIXTURE)["relative_pos_b"])
    # Both blocks of stage b read the bias: each gets a gradient from it.
    x = np.load(FIXTURE)["input_nhwc"][:1]
    bias = model.get_layer("relative_pos_b").bias
    for block in (0, 1):
        attention = model.get_layer(f"blocks_b.{block}.attn")
        probe = keras.Model(model.input, attention.output)
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.sum(probe(x) ** 2)
        assert np.abs(tape.gradient(loss, bias.value)).max() > 0


def test_checkpoint_of_another_resolution_loads_with_resized_biases():
    fixture, state = np.load(FIXTURE), fixture_state(FIXTURE)
    model = _fixture_model(input_shape=(128, 160, 3))
    layer = model.get_layer("relative_pos_a")
    assert layer.query_grid == (32, 40) and layer.kv_grid == (4, 5)
    expected = resize_relative_position_bias(state["relative_pos_a"], (32, 40), (4, 5))
    np.testing.assert_allclose(layer.bias, expected, rtol=0, atol=1e-6)
    # Same weights elsewhere, and sane logits: finite, near the 96x96 model's on resized images.
    np.testing.assert_array_equal(model.get_layer("head").kernel, state["head.weight"].T)
    images = keras.ops.convert_to_numpy(keras.ops.image.resize(fixture["input_nhwc"], (128, 160)))
    logits = model.predict(images, verbose=0)
    assert np.all(np.isfinite(logits)) and np.corrcoef(logits.ravel(), fixture["logits"].ravel())[0, 1] > 0.5


def test_resized_bias_layers_agree_with_the_converter():
    small = _fixture_model()
    large = _fixture_model(input_shape=(128, 128, 3))
    target = RelativePositionBias(2, 4)
    target.build((None, 16, 16, 24))  # stage b of a 128x128 model: stride 8
    target.load_resized_weights(small.get_layer("relative_pos_b"))
    np.testing.assert_allclose(target.bias, large.get_layer("relative_pos_b").bias, atol=1e-6)
    with pytest.raises(ValueError, match="number of heads differs"):
        target.load_resized_weights(small.get_layer("relative_pos_c").bias)
    # A whole model: every weight copied, every bias resized, as loading the checkpoint at 128.
    fresh = keras_hire.models.CMT(**{**FIXTURE_CONFIG, "input_shape": (128, 128, 3)})
    fresh.load_resized_weights(small)
    for expected, actual in zip(large.weights, fresh.weights):
        np.testing.assert_allclose(actual, expected, atol=1e-6, err_msg=actual.path)
    with pytest.raises(ValueError, match="has no layer 'blocks_b.1.proj'"):
        fresh.load_resized_weights(keras_hire.models.CMT(**{**FIXTURE_CONFIG, "depths": (1, 1, 1, 1)}))


@pytest.mark.parametrize("source,target", [((24, 3), (32, 4)), ((14, 7), (7, 7)), ((8, 8), (12, 5))])
def test_bias_resize_is_kecams_two_bilinear_image_resizes(source, target):
    # keras_cv_attention_models' load_resized_weights: tf.image.resize(bilinear) over the query
    # grid (heads as batch, kv tokens as channels), then over the kv grid.
    import tensorflow as tf

    (q_src, kv_src), (q_dst, kv_dst) = source, target
    heads = 2
    array = np.random.RandomState(0).randn(heads, q_src * q_src, kv_src * kv_src).astype(np.float32)
    step = tf.image.resize(array.reshape(heads, q_src, q_src, -1), (q_dst, q_dst), method="bilinear").numpy()
    step = step.reshape(heads, q_dst * q_dst, kv_src, kv_src).transpose(0, 2, 3, 1)
    step = tf.image.resize(step, (kv_dst, kv_dst), method="bilinear").numpy()
    expected = step.reshape(heads, kv_dst * kv_dst, q_dst * q_dst).transpose(0, 2, 1)
    actual = resize_relative_position_bias(array, (q_dst, q_dst), (kv_dst, kv_dst))
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_bias_resize_to_the_same_grid_is_the_identity_and_odd_grids_need_source_grids():
    array = np.random.RandomState(0).randn(2, 48, 12).astype(np.float32)
    grids = ((6, 8), (3, 4))
    np.testing.assert_array_equal(resize_relative_position_bias(array, *grids, source_grids=grids), array)
    with pytest.raises(ValueError, match="not a square grid"):
        resize_relative_position_bias(array, (4, 4), (2, 2))


def test_checkpoint_problems_are_named_and_nothing_is_assigned():
    model = keras_hire.models.CMT(**FIXTURE_CONFIG)
    before = [w.numpy().copy() for w in model.weights]
    state = fixture_state(FIXTURE)
    state["blocks_a.0.attn.unexpected.weight"] = np.zeros(3)
    del state["blocks_b.1.attn.sr.1.running_var"]
    state["head.weight"] = np.zeros((9, 64), np.float32)
    state["relative_pos_c"] = np.zeros((2, 36, 9), np.float32)  # heads differ: cannot be resized
    state["relative_pos_d"] = np.zeros((4, 10, 9), np.float32)  # not a square grid
    with pytest.raises(ValueError) as error:
        keras_hire.convert.load_pytorch_weights(model, state)
    message = str(error.value)
    assert "blocks_a.0.attn.unexpected.weight" in message
    assert "blocks_b.1.attn.sr.1.running_var" in message
    assert "head.weight: checkpoint (9, 64)" in message
    assert "relative_pos_c: checkpoint (2, 36, 9)" in message
    assert "relative_pos_d: checkpoint (4, 10, 9)" in message
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


def test_headless_model_loads_with_skip_and_exposes_the_pyramid():
    model = keras_hire.models.CMT(**{**FIXTURE_CONFIG, "input_shape": (64, 96, 3), "include_top": False})
    assert model.output_shape == (None, 2, 3, 48)
    loaded = keras_hire.convert.load_pytorch_weights(model, FIXTURE, skip=("_fc.", "_bn.", "head."))
    assert "relative_pos_a" in loaded and "head.weight" not in loaded
    features = model.feature_extractor()(np.zeros((1, 64, 96, 3), np.float32))
    shapes = {name: tuple(f.shape) for name, f in features.items()}
    assert shapes == {"stage1": (1, 16, 24, 12), "stage2": (1, 8, 12, 24),
                      "stage3": (1, 4, 6, 36), "stage4": (1, 2, 3, 48)}


def test_bad_inputs_raise_errors_that_name_the_fix():
    with pytest.raises(ValueError, match=r"multiples of 32.*nearest supported sizes are 96x64"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "input_shape": (100, 64, 3)})
    with pytest.raises(ValueError, match="at least 32 pixels"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "input_shape": (0, 64, 3)})
    with pytest.raises(ValueError, match="multiples of 64"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "kv_reductions": (16, 4, 2, 1), "input_shape": (96, 96, 3)})
    with pytest.raises(ValueError, match="static input_shape"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "input_shape": (None, None, 3)})
    with pytest.raises(ValueError, match=r"num_heads=\(1, 2, 4\) has 3 entries; give one value per stage \(4\)"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "num_heads": (1, 2, 4)})
    with pytest.raises(ValueError, match="multiple of the stage's num_heads"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "num_heads": (3, 2, 2, 4)})
    with pytest.raises(ValueError, match="4 stages"):
        keras_hire.models.CMT(**{**TINY_CONFIG, "depths": (1, 1, 1)})
    with pytest.raises(ValueError, match="Unknown model name 'cmt_smal'. Did you mean 'cmt_small'"):
        keras_hire.models.create_model("cmt_smal")
    model = keras_hire.models.CMT(**TINY_CONFIG)
    with pytest.raises(ValueError, match=r"built for 64x64 images.*input_shape=\(96, 96, 3\)"):
        model(np.zeros((1, 96, 96, 3), np.float32))
    with pytest.raises(ValueError, match=r"3-channel images .* with 1 channels"):
        model(np.zeros((1, 64, 64, 1), np.float32))


def test_training_mode_runs_and_drop_path_is_stochastic():
    model = keras_hire.models.CMT(**{**TINY_CONFIG, "drop_path_rate": 0.5, "dropout": 0.0})
    x = np.random.RandomState(0).rand(4, 64, 64, 3).astype(np.float32)
    first, second = model(x, training=True), model(x, training=True)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_layers_of_one_shape_start_from_different_weights():
    model = keras_hire.models.CMT(**TINY_CONFIG)
    assert not np.allclose(model.get_layer("stem_conv2").kernel, model.get_layer("stem_conv3").kernel)
    bias = model.get_layer("relative_pos_a").bias
    assert np.std(bias) == pytest.approx(1.0, rel=0.1)  # the official torch.randn

