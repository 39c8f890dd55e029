"""quantize_vit on a tiny DeiT: what is quantized, the intervals, the fake-quantized model, bad input."""

import keras
import numpy as np
import pytest

from keras_hire.methods.quantization import (
    FakeQuantDense,
    LayerIntervals,
    pearson_similarity,
    quantize_vit,
    uniform_quantize,
)
from keras_hire.models import create_model

OPS = ("q", "k", "v", "matmul_qk", "matmul_av", "proj")


def tiny_deit(**overrides):
    config = dict(num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=2, embed_dim=48, num_heads=3)
    return create_model("deit_tiny", **{**config, **overrides})


def images(n=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 32, 32, 3)).astype("float32")


@pytest.fixture(scope="module")
def quantized():
    """The float model and its 8-bit and 16-bit results (one search each, shared by the tests)."""
    keras.utils.set_random_seed(0)
    model = tiny_deit()
    calibration = images()
    lines = []
    result8 = quantize_vit(model, calibration, bits=8, grid_size=15, progress=lines.append)
    result16 = quantize_vit(model, calibration, bits=16, grid_size=15)
    return model, calibration, result8, result16, lines


def test_every_linear_layer_and_product_is_quantized(quantized):
    model, _, result, _, lines = quantized
    expected = {"patch_embed.proj"} | {f"blocks.{i}.attn.{op}" for i in range(2) for op in OPS} | {
        f"blocks.{i}.mlp.fc{j}" for i in range(2) for j in (1, 2)}
    assert set(result.intervals) == expected
    assert set(result.report["layers"]) == expected
    assert result.report["float_layers"] == ["cls_token", "pos_embed", "blocks.0.norm1", "blocks.0.norm2",
                                             "blocks.1.norm1", "blocks.1.norm2", "norm", "head"]
    assert len(lines) == len(expected) and lines[0].startswith("patch_embed.proj (8 bits): objective")
    assert all(isinstance(v, LayerIntervals) and v.bits == 8 for v in result.intervals.values())
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert {"FakeQuantAttention", "FakeQuantDense", "FakeQuantConv2D", "LayerNorm"} <= kinds
    assert type(result.model.get_layer("head")) is keras.layers.Dense  # the classifier stays float
    assert result.model is not model


def test_intervals_lie_in_the_grid(quantized):
    _, _, result, _, _ = quantized
    for name, layer in result.report["layers"].items():
        interval = result.intervals[name]
        assert interval.weight == layer["weight_interval"] and interval.input == layer["input_interval"]
        for key in ("weight", "input"):
            ratio = layer[f"{key}_interval"] / layer[f"max_abs_{key}_interval"]
            assert 0.5 - 1e-9 <= ratio <= 1.2 + 1e-9, (name, key, ratio)
        assert 1 <= layer["rounds"] <= 20


def test_searched_objective_at_least_max_abs(quantized):
    _, _, result, _, _ = quantized
    gains = [layer["objective"] - layer["objective_max_abs"] for layer in result.report["layers"].values()]
    assert min(gains) >= -1e-9, gains
    assert max(gains) > 1e-6  # the search moved somewhere


def test_reported_objective_is_the_textbook_one(quantized):
    model, calibration, result, _, _ = quantized
    fc1 = model.get_layer("blocks.0.mlp.fc1")
    x = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], fc1.input)(calibration))
    w, b = (keras.ops.convert_to_numpy(v) for v in (fc1.kernel, fc1.bias))
    found = result.intervals["blocks.0.mlp.fc1"]
    fake = result.model.get_layer("blocks.0.mlp.fc1")
    correction = keras.ops.convert_to_numpy(fake.bias_correction)
    o_hat = uniform_quantize(x, found.input, 8) @ uniform_quantize(w, found.weight, 8) + b + correction
    expected = np.mean([pearson_similarity(o, h) for o, h in zip(x @ w + b, o_hat)])
    assert result.report["layers"]["blocks.0.mlp.fc1"]["objective"] == pytest.approx(expected, abs=1e-6)
    # The fake-quant layer computes the same product.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fake(x)), o_hat, atol=1e-5)
    assert isinstance(fake, FakeQuantDense) and fake.input_delta == found.input and fake.bits == 8


def test_bias_correction_reduces_the_mean_output_error(quantized):
    _, _, result, _, _ = quantized
    for name, layer in result.report["layers"].items():
        if "matmul" in name:  # the products have no bias to correct
            assert layer["mean_output_error_after_correction"] == layer["mean_output_error_before_correction"]
        else:
            assert layer["mean_output_error_after_correction"] < 0.01 * layer["mean_output_error_before_correction"]


def test_16_bits_matches_the_float_model_and_8_bits_is_close(quantized):
    model, calibration, result8, result16, _ = quantized

    def error(result, x):
        return np.abs(keras.ops.convert_to_numpy(result.model(x)) - keras.ops.convert_to_numpy(model(x))).max()

    scale = np.abs(keras.ops.convert_to_numpy(model(calibration))).max()
    assert error(result16, calibration) < 1e-4 * scale
    assert error(result16, calibration) < error(result8, calibration) < 0.05 * scale
    # Held-out images exceed the 8 calibration images' ranges a little: clipping, not rounding, dominates.
    held_out = images(6, seed=1)
    assert error(result16, held_out) < error(result8, held_out) < 0.1 * scale
    assert result16.report["simulated"] and result8.report["bits"] == 8


def test_float_model_is_left_unchanged():
    model = tiny_deit()
    before = [w.copy() for w in model.get_weights()]
    quantize_vit(model, images(4), bits=6, grid_size=4, max_rounds=2)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert all(type(layer).__name__ != "FakeQuantDense" for layer in model.layers)


def test_ranking_weight_zero_makes_qk_pure_pearson():
    model, calibration = tiny_deit(depth=1), images(4)
    plain = quantize_vit(model, calibration, bits=4, grid_size=6, max_rounds=2, ranking_weight=0.0)
    ranked = quantize_vit(model, calibration, bits=4, grid_size=6, max_rounds=2, ranking_weight=0.1)
    qk = "blocks.0.attn.matmul_qk"
    assert ranked.report["layers"][qk]["objective"] < plain.report["layers"][qk]["objective"]
    assert ranked.report["layers"]["blocks.0.attn.v"] == plain.report["layers"]["blocks.0.attn.v"]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((8, 16, 16, 3), "float32"), "built for 32x32"),
    (np.zeros((8, 32, 32, 1), "float32"), "1 channels"),
    (np.zeros((32, 32, 3), "float32"), r"\(N, H, W, C\)"),
    (np.zeros((8, 32, 32, 3), "uint8"), "dtype uint8"),
    (np.full((8, 32, 32, 3), 255.0, "float32"), "raw pixels"),
    (np.zeros((3, 32, 32, 3), "float32"), "at least 4"),
    (np.full((8, 32, 32, 3), np.nan, "float32"), "NaN"),
])
def test_bad_calibration_images(bad, match):
    with pytest.raises(ValueError, match=match):
        quantize_vit(tiny_deit(depth=1), bad, bits=8)


@pytest.mark.parametrize("bits", [1, 17, 4.5, True])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        quantize_vit(tiny_deit(depth=1), images(4), bits=bits)


def test_bad_method_model_and_options():
    model = tiny_deit(depth=1)
    with pytest.raises(ValueError, match="Unknown quantization method 'kmeans'"):
        quantize_vit(model, images(4), method="kmeans")
    with pytest.raises(ValueError, match="part of method 'ptq_vit'"):
        quantize_vit(model, images(4), mixed_precision=True, method="minmax")
    with pytest.raises(ValueError, match="does not have"):
        quantize_vit(model, images(4), float_layers=["nope"])
    inputs = keras.Input((32, 32, 3))
    nothing = keras.Model(inputs, keras.layers.LayerNormalization()(inputs), name="only_norm")
    with pytest.raises(ValueError, match="nothing quantize_vit can quantize"):
        quantize_vit(nothing, images(4))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    unsupported = keras.Model(inputs, keras.layers.Dense(4, name="fc")(x), name="conv_net")
    with pytest.raises(ValueError, match=r"stem \(Conv2D\).*float_layers"):
        quantize_vit(unsupported, images(4))
    result = quantize_vit(unsupported, images(4), float_layers=["stem"], grid_size=4, max_rounds=1)
    assert set(result.intervals) == {"fc"}


def test_distilled_deit_and_aug_vit_linear_shortcuts():
    small = dict(num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=1, embed_dim=48, num_heads=3)
    distilled = quantize_vit(create_model("deit_tiny_distilled", **small), images(4), grid_size=4, max_rounds=1)
    assert distilled.report["float_layers"][-2:] == ["head", "head_dist"] and len(distilled.intervals) == 9
    aug = create_model("aug_vit_small", **small, augmented_shortcuts="linear2")
    result = quantize_vit(aug, images(4), grid_size=4, max_rounds=1)
    shortcuts = {"blocks.0.augs_attn.0", "blocks.0.augs_attn2.0", "blocks.0.augs.0", "blocks.0.augs2.0"}
    assert shortcuts <= set(result.intervals) and len(result.intervals) == 13
    held_out = images(4, seed=2)
    error = np.abs(keras.ops.convert_to_numpy(result.model(held_out)) - keras.ops.convert_to_numpy(aug(held_out)))
    assert error.max() < 0.1 * np.abs(keras.ops.convert_to_numpy(aug(held_out))).max()


def _relative_error(fake, model, x):
    reference = keras.ops.convert_to_numpy(model(x))
    return float(np.abs(keras.ops.convert_to_numpy(fake(x)) - reference).max() / np.abs(reference).max())


def test_cait_talking_heads_and_class_attention_are_quantized():
    from keras_hire.methods.quantization import FakeQuantAttention

    keras.utils.set_random_seed(0)
    # Layer scales of 1 (not CaiT's 1e-5), so every block's quantization reaches the logits.
    cait = create_model("cait_s24", num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=1, embed_dim=48,
                        num_heads=3, layer_scale_init=1.0)
    result = quantize_vit(cait, images(8), grid_size=8, max_rounds=2)
    attention = ["blocks.0.attn", "blocks_token_only.0.attn", "blocks_token_only.1.attn"]
    mlps = ["blocks.0.mlp", "blocks_token_only.0.mlp", "blocks_token_only.1.mlp"]
    assert set(result.intervals) == ({"patch_embed.proj"} | {f"{a}.{op}" for a in attention for op in OPS}
                                     | {f"{m}.fc{i}" for m in mlps for i in (1, 2)})
    twins = {layer.name: layer for layer in result.model.layers if isinstance(layer, FakeQuantAttention)}
    assert twins["blocks.0.attn"].talking_heads and twins["blocks.0.attn"].num_queries is None
    assert twins["blocks_token_only.0.attn"].num_queries == 1  # the class token queries
    # The head mixes stay float (32-bit in the size); the class attention's q sees one token per image.
    assert result.report["layers"]["blocks_token_only.0.attn.matmul_qk"]["rounds"] >= 1
    held_out = images(4, seed=2)
    assert 1e-4 < _relative_error(result.model, cait, held_out) < 0.05
    near_float = quantize_vit(cait, images(8), bits=16, method="minmax")  # on its calibration images: no clipping
    assert _relative_error(near_float.model, cait, images(8)) < 2e-4  # the twins compute the float layers
    mixed = quantize_vit(cait, images(8), bits=6, mixed_precision=True, grid_size=4, max_rounds=1)
    assert set(mixed.report["mixed_precision"]["modules"]) == set(attention + mlps)


def test_aug_vit_block_circulant_shortcuts_are_quantized_over_their_materialised_kernels():
    keras.utils.set_random_seed(0)
    small = dict(num_classes=10, input_shape=(32, 32, 3), patch_size=8, depth=1, embed_dim=48, num_heads=3)
    circulant = create_model("aug_vit_small", **small)  # circulant2 shortcuts
    result = quantize_vit(circulant, images(8), grid_size=8, max_rounds=2)
    shortcuts = ["blocks.0.augs_attn.0", "blocks.0.augs_attn2.0", "blocks.0.augs.0", "blocks.0.augs2.0"]
    assert set(shortcuts) <= set(result.intervals) and len(result.intervals) == 13
    for name in shortcuts:
        twin = result.model.get_layer(name)
        assert isinstance(twin, FakeQuantDense) and tuple(twin.kernel.shape) == (48, 48)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(twin.kernel),
                                      keras.ops.convert_to_numpy(circulant.get_layer(name).kernel))
    held_out = images(4, seed=2)
    assert 1e-4 < _relative_error(result.model, circulant, held_out) < 0.1
    # The size counts each shortcut's 4 x 48 circulant parameters at 8 bits, not its 48 x 48 kernel.
    total = sum(int(np.prod(w.shape)) for w in circulant.weights)
    kernels = sum(int(np.prod(circulant.get_layer(n).kernel.shape)) for n in ("patch_embed.proj", "blocks.0.mlp.fc1",
                                                                                  "blocks.0.mlp.fc2"))
    kernels += 4 * 48 * 48 + 4 * 4 * 48  # q, k, v, proj; the shortcuts' circulant vectors
    assert result.report["model_size_mb"] == pytest.approx((32 * total - 24 * kernels) / 8e6)


class _Interrupt(Exception):
    pass


def test_an_interrupted_search_resumes_from_its_saved_state(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_deit(depth=1)
    calibration = images()
    state = str(tmp_path / "state.json")
    settings = dict(bits=6, grid_size=6, max_rounds=2)
    reference = quantize_vit(model, calibration, **settings)

    seen = []

    def stop_after_the_attention(line):
        seen.append(line)
        if line.startswith("blocks.0.attn.proj"):
            raise _Interrupt  # as if killed once the attention layer's state is on disk

    with pytest.raises(_Interrupt):
        quantize_vit(model, calibration, progress=stop_after_the_attention, state_path=state, **settings)
    lines = []
    resumed = quantize_vit(model, calibration, progress=lines.append, state_path=state, **settings)
    restored = [line.split(" ")[0] for line in lines if "restored" in line]
    assert restored == ["patch_embed.proj"] + [f"blocks.0.attn.{op}" for op in OPS]
    assert not any("restored" in line for line in lines if "mlp" in line)
    assert resumed.intervals == reference.intervals
    np.testing.assert_allclose(resumed.model(calibration), reference.model(calibration), atol=1e-6)
    with pytest.raises(ValueError, match="written for another model.*delete it"):
        quantize_vit(model, calibration, progress=None, state_path=state, bits=8, grid_size=6, max_rounds=2)


def test_a_slimmed_vit_quantizes_with_its_rectangular_attention():
    from keras_hire.methods.slimming import slim

    keras.utils.set_random_seed(0)
    model = tiny_deit()
    slimmed = slim(model, [[0, 1, 2, 5, 7, 9, 12, 16], [0, 2, 9, 16]])
    calibration = images()
    result = quantize_vit(slimmed, calibration, bits=16, grid_size=4, max_rounds=1)
    np.testing.assert_allclose(result.model(calibration), slimmed(calibration), atol=1e-3)
    result8 = quantize_vit(slimmed, calibration, bits=8, grid_size=4, max_rounds=1)
    assert pearson_similarity(slimmed(calibration), result8.model(calibration)) > 0.99
