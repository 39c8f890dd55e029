"""The baselines (min-max, percentile, EasyQuant) and mixed precision through quantize_vit."""

import itertools

import keras
import numpy as np
import pytest

from keras_hire.methods.quantization import bit_set, nuclear_norm, pareto_choice, quantize_vit
from tests.test_quantization_ptq_vit import images, tiny_deit


@pytest.fixture(scope="module")
def model_and_images():
    keras.utils.set_random_seed(0)
    return tiny_deit(), images(8)


def captured_input(model, name, x):
    return keras.ops.convert_to_numpy(keras.Model(model.inputs[0], model.get_layer(name).input)(x))


def test_minmax_keeps_the_max_abs_intervals(model_and_images):
    model, x = model_and_images
    result = quantize_vit(model, x, bits=6, method="minmax")
    fc1 = captured_input(model, "blocks.0.mlp.fc1", x)
    assert result.intervals["blocks.0.mlp.fc1"].input == pytest.approx(np.abs(fc1).max() / 31, rel=1e-6)
    kernel = keras.ops.convert_to_numpy(model.get_layer("blocks.0.mlp.fc1").kernel)
    assert result.intervals["blocks.0.mlp.fc1"].weight == pytest.approx(np.abs(kernel).max() / 31, rel=1e-6)
    for layer in result.report["layers"].values():
        assert layer["rounds"] == 0
        assert layer["weight_interval"] == layer["max_abs_weight_interval"]
        assert layer["input_interval"] == layer["max_abs_input_interval"]
        assert layer["mean_output_error_after_correction"] == layer["mean_output_error_before_correction"]
    assert result.report["bias_correction"] is False and result.report["method"] == "minmax"


def test_percentile_clips_inputs_at_the_percentile(model_and_images):
    model, x = model_and_images
    result = quantize_vit(model, x, bits=6, method="percentile", percentile=99.0)
    fc1 = captured_input(model, "blocks.0.mlp.fc1", x)
    expected = np.percentile(np.abs(fc1), 99.0) / 31
    assert result.intervals["blocks.0.mlp.fc1"].input == pytest.approx(expected, rel=1e-5)
    assert expected < np.abs(fc1).max() / 31
    kernel = keras.ops.convert_to_numpy(model.get_layer("blocks.0.mlp.fc1").kernel)
    assert result.intervals["blocks.0.mlp.fc1"].weight == pytest.approx(np.abs(kernel).max() / 31, rel=1e-6)
    assert result.report["percentile"] == 99.0


def test_easyquant_searches_cosine_without_correction(model_and_images):
    model, x = model_and_images
    result = quantize_vit(model, x, bits=4, method="easyquant", grid_size=10)
    assert result.report["metric"] == "cosine" and result.report["ranking_weight"] == 0.0
    fc2 = captured_input(model, "blocks.1.mlp.fc2", x)
    layer = model.get_layer("blocks.1.mlp.fc2")
    w, b = keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias)
    found = result.intervals["blocks.1.mlp.fc2"]
    from keras_hire.methods.quantization import uniform_quantize

    o, o_hat = fc2 @ w + b, uniform_quantize(fc2, found.input, 4) @ uniform_quantize(w, found.weight, 4) + b
    cosine = np.mean([np.sum(p * q) / np.linalg.norm(p) / np.linalg.norm(q) for p, q in zip(o, o_hat)])
    assert result.report["layers"]["blocks.1.mlp.fc2"]["objective"] == pytest.approx(cosine, abs=1e-6)
    for entry in result.report["layers"].values():
        assert entry["objective"] >= entry["objective_max_abs"] - 1e-9
        assert entry["mean_output_error_after_correction"] == entry["mean_output_error_before_correction"]


def test_bit_sets_and_nuclear_norm():
    assert bit_set(6) == (4, 5, 6, 7, 8) and bit_set(8) == (6, 7, 8, 9, 10)
    assert bit_set(4) == (2, 3, 4, 5, 6) and bit_set(16) == (14, 15, 16)
    m = np.random.default_rng(0).normal(size=(2, 5, 3))
    assert nuclear_norm(m) == pytest.approx(np.mean([np.linalg.norm(a, "nuc") for a in m]), rel=1e-12)


def test_pareto_choice_is_the_constrained_optimum():
    rng = np.random.default_rng(1)
    bits = (4, 5, 6, 7, 8)
    params = [10, 30, 10, 30, 20]
    sizes = [{b: p * b for b in bits} for p in params]
    errors = [{b: float(rng.uniform() * 2.0 ** -b) for b in bits} for _ in params]
    budget = 6 * sum(params)
    choice, size, omega = pareto_choice(sizes, errors, budget)
    best = min((sum(e[b] for e, b in zip(errors, c)), c) for c in itertools.product(bits, repeat=len(params))
               if sum(s[b] for s, b in zip(sizes, c)) <= budget)
    assert omega == pytest.approx(best[0], rel=1e-12) and size <= budget
    assert sum(e[b] for e, b in zip(errors, choice)) == pytest.approx(omega)
    with pytest.raises(ValueError, match="budget"):
        pareto_choice(sizes, errors, budget=10)


def test_mixed_precision_allocates_bits_per_module_within_the_uniform_size(model_and_images):
    model, x = model_and_images
    uniform = quantize_vit(model, x, bits=6, grid_size=8, max_rounds=3)
    mixed = quantize_vit(model, x, bits=6, grid_size=8, max_rounds=3, mixed_precision=True)
    report = mixed.report["mixed_precision"]
    assert report["bit_set"] == [4, 5, 6, 7, 8] and set(report["modules"]) == {
        "blocks.0.attn", "blocks.0.mlp", "blocks.1.attn", "blocks.1.mlp"}
    for name, module in report["modules"].items():
        ops = [op for op in mixed.intervals if op.startswith(name + ".")]
        assert len(ops) == (6 if name.endswith("attn") else 2)
        assert {mixed.intervals[op].bits for op in ops} == {module["bits"]}  # one width per module
        assert module["bits"] in report["bit_set"] and module["nuclear_norm"] > 0
        errors = [module["errors"][b] for b in report["bit_set"]]
        assert errors[0] > errors[-1]  # more bits, smaller module error
    assert mixed.intervals["patch_embed.proj"].bits == 6  # outside the modules: the target
    assert report["size_bits"] <= report["budget_bits"] == 6 * sum(m["parameters"] for m in report["modules"].values())
    assert mixed.report["model_size_mb"] <= uniform.report["model_size_mb"] + 1e-12
    omega = sum(m["nuclear_norm"] * m["errors"][m["bits"]] for m in report["modules"].values())
    assert report["omega"] == pytest.approx(omega, rel=1e-9)
    uniform_omega = sum(m["nuclear_norm"] * m["errors"][6] for m in report["modules"].values())
    assert report["omega"] <= uniform_omega + 1e-15  # uniform 6 bits is one of the configurations
    layer = mixed.model.get_layer("blocks.0.attn")
    assert layer.bits == report["modules"]["blocks.0.attn"]["bits"]


def test_fake_quant_model_survives_a_keras_round_trip(model_and_images, tmp_path):
    model, x = model_and_images
    result = quantize_vit(model, x, bits=5, grid_size=5, max_rounds=2)
    path = str(tmp_path / "fake.keras")
    result.model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(result.model(x)))
    assert loaded.get_layer("blocks.0.attn").intervals == result.model.get_layer("blocks.0.attn").intervals
    for name, variable in (("blocks.0.mlp.fc1", "bias_correction"), ("blocks.0.attn", "proj_correction")):
        saved = keras.ops.convert_to_numpy(getattr(result.model.get_layer(name), variable))
        assert np.abs(saved).max() > 0
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(getattr(loaded.get_layer(name), variable)), saved)
