"""Hire-MLP: official parameter counts and MACs, parity with the official model, I/O contracts."""

import os

import keras
import numpy as np
import pytest

import keras_hire
from keras_hire.layers import HireModule
from tests.conftest import FIXTURES
from tests.hire_reference import hire_module_nchw, random_hire_params
from tests.model_checks import assert_matches_fixture, fixture_state, relative_error, write_pth

FIXTURE = os.path.join(FIXTURES, "hire_mlp_official_small_config.npz")
# The fixture's official configuration (official region/step settings, reduced widths and depths).
FIXTURE_CONFIG = dict(depths=(1, 2, 3, 1), embed_dims=(8, 16, 24, 32), num_classes=7, input_shape=(56, 72, 3))
TINY_CONFIG = dict(depths=(1, 2, 1, 1), embed_dims=(8, 16, 24, 32), num_classes=5)

# sum(p.numel() for p in model.parameters()) of the official hire_mlp_{tiny,small,base,large}.
OFFICIAL_PARAMS = {
    "hire_mlp_tiny": 18_041_672,
    "hire_mlp_small": 33_113_848,
    "hire_mlp_base": 58_226_856,
    "hire_mlp_large": 95_723_944,
}
PAPER_GMACS = {"hire_mlp_tiny": 2.144, "hire_mlp_small": 4.231, "hire_mlp_base": 8.111, "hire_mlp_large": 13.422}


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_variant_parameter_counts_and_macs_equal_the_official_ones(name):
    model = keras_hire.models.create_model(name)
    assert keras_hire.utils.count_params(model) == OFFICIAL_PARAMS[name]
    gmacs = keras_hire.utils.count_macs(model) / 1e9
    assert gmacs == pytest.approx(PAPER_GMACS[name], rel=0.02)


def test_named_variants_are_the_registered_configurations():
    model = keras_hire.models.HireMLPSmall(num_classes=10, input_shape=(64, 64, 3))
    assert model.depths == (3, 4, 10, 3) and model.embed_dims == (64, 128, 320, 512)
    assert model.region_sizes == (4, 3, 3, 2) and model.shift_strides == (2, 2, 3, 2)
    assert model.shift_dilations == (2, 2, 1, 1)
    assert model.output_shape == (None, 10)
    assert set(keras_hire.models.list_models("hire_mlp")) == set(OFFICIAL_PARAMS)


def test_layers_of_one_shape_start_from_different_weights():
    # An unseeded Keras initializer instance repeats its values; each layer needs its own.
    model = keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (32, 32, 3)})
    first, second = (model.get_layer(f"network.2.{j}.attn") for j in (0, 1))
    assert not np.allclose(model.get_layer("network.2.0.mlp.fc1").kernel, model.get_layer("network.2.1.mlp.fc1").kernel)
    assert not np.allclose(first.mlp_h1.kernel, second.mlp_h1.kernel)
    assert np.std(first.mlp_h1.kernel) == pytest.approx(0.02 * 0.88, rel=0.1)  # truncated at 2 std


def test_block_steps_cycle_as_in_the_official_code():
    model = keras_hire.models.HireMLPSmall(input_shape=(64, 64, 3))
    steps = [model.get_layer(f"network.4.{j}.attn").step for j in range(10)]
    assert steps == [0, 1, 2] * 3 + [0]
    assert [model.get_layer(f"network.0.{j}.attn").step for j in range(3)] == [0, 2, 0]


@pytest.mark.parametrize(
    "height,width,region,step",
    [(7, 7, 2, 1), (14, 14, 3, 2), (5, 9, 4, 2), (6, 6, 3, 0), (2, 3, 3, 1), (1, 1, 2, 1), (4, 11, 3, 5)],
)
def test_hire_module_equals_the_official_nchw_computation(height, width, region, step):
    dim = 8
    params = random_hire_params(dim, region, seed=height * 31 + width)
    inputs = keras.Input((height, width, dim))
    model = keras.Model(inputs, HireModule(dim, region_size=region, step=step, name="attn")(inputs))
    keras_hire.convert.load_pytorch_weights(model, {f"attn.{k}": v for k, v in params.items()})

    x = np.random.RandomState(1).randn(2, height, width, dim).astype(np.float32)
    expected = hire_module_nchw(x.transpose(0, 3, 1, 2).astype(np.float64), params, region, step)
    actual = model.predict(x, verbose=0).transpose(0, 3, 1, 2)
    assert relative_error(actual, expected) < 1e-5


def test_logits_equal_the_official_model_on_the_fixture():
    model = keras_hire.models.HireMLP(**FIXTURE_CONFIG)
    assert len(assert_matches_fixture(model, FIXTURE)) == len(model.weights)


def test_weights_load_from_a_safetensors_file(tmp_path):
    from safetensors.numpy import save_file

    path = str(tmp_path / "hire.safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in fixture_state(FIXTURE).items()}, path)
    assert_matches_fixture(keras_hire.models.HireMLP(**FIXTURE_CONFIG), FIXTURE, path)


@pytest.mark.timm  # the loader reads .pth files with torch
def test_weights_load_from_a_pth_file(tmp_path):
    path = write_pth(fixture_state(FIXTURE), str(tmp_path / "hire.pth"))
    assert_matches_fixture(keras_hire.models.HireMLP(**FIXTURE_CONFIG), FIXTURE, path)


def test_checkpoint_problems_are_named_and_nothing_is_assigned():
    model = keras_hire.models.HireMLP(**FIXTURE_CONFIG)
    before = [w.numpy().copy() for w in model.weights]
    state = fixture_state(FIXTURE)
    state["network.0.0.attn.unexpected.weight"] = np.zeros(3)
    del state["network.4.2.mlp.fc1.bias"]
    state["head.weight"] = np.zeros((9, 32), np.float32)
    with pytest.raises(ValueError) as error:
        keras_hire.convert.load_pytorch_weights(model, state)
    message = str(error.value)
    assert "network.0.0.attn.unexpected.weight" in message
    assert "network.4.2.mlp.fc1.bias" in message
    assert "head.weight: checkpoint (9, 32)" in message
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


def test_skip_keeps_a_new_classifier_for_fine_tuning():
    model = keras_hire.models.HireMLP(**{**FIXTURE_CONFIG, "num_classes": 3})
    loaded = keras_hire.convert.load_pytorch_weights(model, FIXTURE, skip=("head.",))
    assert "head.weight" not in loaded and "norm.weight" in loaded


def test_unreadable_checkpoints_raise_clear_errors(tmp_path):
    model = keras_hire.models.HireMLP(**FIXTURE_CONFIG)
    with pytest.raises(FileNotFoundError, match="not found"):
        keras_hire.convert.load_pytorch_weights(model, str(tmp_path / "missing.pth"))
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        keras_hire.convert.load_pytorch_weights(model, str(corrupt))
    with pytest.raises(ValueError, match="Unsupported checkpoint format"):
        keras_hire.convert.load_pytorch_weights(model, str(__file__))


@pytest.mark.parametrize("input_shape", [(3, 3, 3), (37, 53, 3), (64, 32, 1)])
def test_any_size_the_architecture_allows(input_shape):
    model = keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": input_shape})
    x = np.random.RandomState(0).rand(2, *input_shape).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2, 5)


def test_headless_model_returns_the_last_stage_map():
    headless = keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (64, 96, 3), "include_top": False})
    assert headless.output_shape == (None, 2, 3, 32)


def test_bad_inputs_raise_errors_that_name_the_fix():
    with pytest.raises(ValueError, match="at least 3 pixels"):
        keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (2, 64, 3)})
    with pytest.raises(ValueError, match="static input_shape"):
        keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (None, None, 3)})
    with pytest.raises(ValueError, match="one value per stage"):
        keras_hire.models.HireMLP(depths=(1, 1), embed_dims=(8, 16, 24))
    with pytest.raises(ValueError, match="Unknown model name 'hire_mlp_smal'. Did you mean 'hire_mlp_small'"):
        keras_hire.models.create_model("hire_mlp_smal")
    model = keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (32, 32, 3)})
    with pytest.raises(ValueError, match=r"3-channel images .* with 1 channels.*repeat"):
        model(np.zeros((1, 32, 32, 1), np.float32))
    with pytest.raises(ValueError, match=r"built for 32x32 images.*input_shape=\(48, 48, 3\)"):
        model(np.zeros((1, 48, 48, 3), np.float32))


def test_training_mode_runs_and_drop_path_is_stochastic():
    model = keras_hire.models.HireMLP(**{**TINY_CONFIG, "input_shape": (32, 32, 3), "drop_path_rate": 0.5})
    x = np.random.RandomState(0).rand(4, 32, 32, 3).astype(np.float32)
    first, second = model(x, training=True), model(x, training=True)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))

