"""Every public layer of keras_hire.layers through the same checks (the table and the checks are in
tests/layer_checks.py): config round trip, compute_output_shape, mixed_float16, the JAX backend."""

import keras
import numpy as np
import pytest

from tests import layer_checks
from tests.layer_checks import LAYER_CASES
from tests.model_checks import jax_child_env, relative_error, run_in_subprocess

CASES = sorted(LAYER_CASES)


def test_every_public_layer_has_a_harness_case():
    covered = {cls for cls, _, _ in LAYER_CASES.values()}
    missing = sorted(cls.__name__ for cls in layer_checks.public_layer_classes() - covered)
    assert not missing, f"add a case for {missing} to LAYER_CASES in tests/layer_checks.py"
    assert covered <= layer_checks.public_layer_classes()  # no case for a layer that left the API


@pytest.mark.parametrize("case", CASES)
def test_config_round_trip_rebuilds_the_same_layer(case):
    layer, inputs, weights, outputs = layer_checks.reference(case)
    layer_checks.assert_round_trip(layer, inputs, weights, outputs)


@pytest.mark.parametrize("case", CASES)
def test_compute_output_shape_equals_the_eager_shape(case):
    layer, inputs, _, outputs = layer_checks.reference(case)
    layer_checks.assert_output_shapes(layer, inputs, outputs)


@pytest.mark.parametrize("case", CASES)
def test_mixed_float16_runs_in_float16_close_to_float32(case):
    _, inputs, weights, outputs = layer_checks.reference(case)
    cls, kwargs, _ = LAYER_CASES[case]
    layer_checks.assert_mixed_float16(lambda: cls(**kwargs), inputs, weights, outputs)
    assert keras.config.dtype_policy().name == "float32"


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """The whole table on the JAX backend in one child process: (TF outputs per case, results file)."""
    pytest.importorskip("jax")
    directory = tmp_path_factory.mktemp("layers_jax")
    bundle, out = str(directory / "bundle.npz"), str(directory / "jax_outputs.npz")
    references = {case: layer_checks.reference(case) for case in CASES}
    layer_checks.save_bundle(bundle, {case: (layer, x, w) for case, (layer, x, w, _) in references.items()})
    run_in_subprocess(f"from tests.layer_checks import jax_main; jax_main({bundle!r}, {out!r})",
                      env=jax_child_env())
    return {case: references[case][3] for case in CASES}, out


@pytest.mark.parametrize("case", CASES)
def test_jax_backend_gives_the_same_outputs(case, jax_run):
    expected, path = jax_run
    outputs, error = layer_checks.load_results(path, case)
    assert error is None, error
    for actual, wanted in zip(outputs, expected[case], strict=True):
        assert actual.shape == wanted.shape
        assert relative_error(actual, wanted) < 1e-5


@keras.saving.register_keras_serializable(package="keras_hire_tests")
class _Careless(keras.layers.Layer):
    """Every mistake the harness exists for: `get_config` drops `scale`, the shape rule forgets the
    last axis and `call` returns float32 whatever the policy."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy}

    def call(self, x):
        return keras.ops.cast(x * self.scale, "float32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def test_the_checks_fail_on_a_careless_layer():
    x = np.ones((2, 3), np.float32)
    layer = _Careless(scale=2.0)
    expected = layer_checks.run(layer, x)
    with pytest.raises(AssertionError, match="not equal"):  # the clone has scale=1.0
        layer_checks.assert_round_trip(layer, x, [], expected)
    with pytest.raises(AssertionError):
        layer_checks.assert_output_shapes(layer, x, expected)
    with pytest.raises(AssertionError, match="float32"):
        layer_checks.assert_mixed_float16(lambda: _Careless(scale=2.0), x, [], expected)
    assert keras.config.dtype_policy().name == "float32"  # restored after the failed check
