"""The layer harness: one small case per public layer of `keras_hire.layers`, and the helpers that
build, run and rebuild a case on either backend.

Every case gets random (not initial) weights, so a mixed-up or unused weight shows in the outputs
(BatchNorm at its initial statistics is the identity, LayerScale a constant). The JAX half runs in
one child process for the whole table: `python -c "from tests.layer_checks import jax_main; ..."`.
"""

import contextlib
import inspect
import json
import traceback

import keras
import numpy as np

from keras_hire import layers
from tests.model_checks import relative_error

# case id -> (layer class, constructor kwargs, input shape or list of input shapes).
LAYER_CASES = {
    "attention": (layers.MultiHeadSelfAttention, dict(dim=8, num_heads=2), (2, 5, 8)),
    "attention_talking_heads": (
        layers.MultiHeadSelfAttention, dict(dim=8, num_heads=2, talking_heads=True, qkv_bias=False), (2, 5, 8),
    ),
    "block_circulant_dense": (layers.BlockCirculantDense, dict(units=16, num_blocks=4), (2, 3, 8)),
    "class_attention": (layers.ClassAttention, dict(dim=8, num_heads=2), (2, 5, 8)),
    # The bias input is (heads, H * W, (H // k) * (W // k)), without a batch axis.
    "lightweight_attention": (
        layers.LightweightAttention, dict(dim=8, num_heads=2, kv_reduction=2), [(2, 4, 6, 8), (2, 24, 6)],
    ),
    "lightweight_attention_unreduced": (
        layers.LightweightAttention, dict(dim=8, num_heads=1), [(2, 3, 2, 8), (1, 6, 6)],
    ),
    "inverted_residual_ffn": (layers.InvertedResidualFFN, dict(dim=8, hidden_dim=12), (2, 4, 6, 8)),
    "relative_position_bias": (layers.RelativePositionBias, dict(num_heads=2, kv_reduction=2), (2, 4, 6, 8)),
    "drop_path": (layers.DropPath, dict(rate=0.25, seed=3), (2, 5, 8)),
    # A region that does not divide the map, and a shift: the padding and both slice paths.
    "hire_module": (layers.HireModule, dict(dim=8, region_size=3, step=1), (2, 5, 7, 8)),
    "layer_norm": (layers.LayerNorm, dict(epsilon=1e-6), (2, 5, 8)),
    "layer_scale": (layers.LayerScale, dict(dim=8, init_value=0.5), (2, 5, 8)),
    "residual_depthwise_conv2d": (layers.ResidualDepthwiseConv2D, dict(kernel_size=3), (2, 5, 6, 4)),
    "scaled_add": (layers.ScaledAdd, dict(scale=0.75), [(2, 5, 8)] * 3),
    "token_slice": (layers.TokenSlice, dict(start=1, stop=4), (2, 5, 8)),
    "static_token_select": (layers.StaticTokenSelect, dict(indices=[0, 3, 4, 1, 1]), (2, 5, 8)),
    "token_slice_squeeze": (layers.TokenSlice, dict(start=1, squeeze=True), (2, 5, 8)),
    "class_token": (layers.ClassToken, dict(dim=8), (2, 5, 8)),
    "position_embedding": (layers.PositionEmbedding, dict(grid_size=(2, 2), dim=8, num_prefix_tokens=1), (2, 5, 8)),
    "resolution_batch_norm": (layers.ResolutionBatchNorm, dict(num_sets=3), (2, 4, 5, 8)),
}


def public_layer_classes():
    """Every `keras.layers.Layer` subclass that `keras_hire.layers` exports."""
    return {
        obj for _, obj in inspect.getmembers(layers, inspect.isclass)
        if issubclass(obj, keras.layers.Layer) and obj.__module__.startswith("keras_hire.")
    }


def case_inputs(case):
    """The case's float32 input(s), a fixed draw per case."""
    shapes = LAYER_CASES[case][2]
    rng = np.random.default_rng(sum(map(ord, case)))
    if isinstance(shapes, list):
        return [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return rng.standard_normal(shapes).astype(np.float32)


def random_weights(layer, seed):
    """Random values for every weight of a built layer (variances positive, all moderate in size)."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in layer.weights:
        value = 0.5 * rng.standard_normal(weight.shape)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        values.append(value.astype(keras.backend.standardize_dtype(weight.dtype)))
    return values


def run(layer, inputs):
    """The layer's inference outputs as a flat list of numpy arrays."""
    outputs = layer(inputs, training=False)
    return [keras.ops.convert_to_numpy(y) for y in keras.tree.flatten(outputs)]


def build_with_weights(layer, inputs, weights):
    """Builds `layer` by calling it, then gives it `weights`."""
    layer(inputs, training=False)
    layer.set_weights(weights)
    return layer


def reference(case):
    """`(layer, inputs, weights, outputs)`: the case at float32 with its random weights."""
    cls, kwargs, _ = LAYER_CASES[case]
    inputs = case_inputs(case)
    layer = cls(**kwargs)
    layer(inputs, training=False)
    weights = random_weights(layer, seed=len(case))
    layer.set_weights(weights)
    return layer, inputs, weights, run(layer, inputs)


def serialize(layer):
    """The layer as the JSON a .keras file would hold."""
    return json.dumps(keras.saving.serialize_keras_object(layer))


def deserialize(text):
    return keras.saving.deserialize_keras_object(json.loads(text))


@contextlib.contextmanager
def global_dtype_policy(name):
    """Sets the global dtype policy for the block and restores the previous one, even on errors."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def assert_round_trip(layer, inputs, weights, expected):
    """Through JSON, as a .keras file stores it (tuples come back as lists, the class by its registered
    name): the same class and config, the same weight names, the same outputs with the same weights."""
    clone = deserialize(serialize(layer))
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    build_with_weights(clone, inputs, weights)
    assert [w.path.split("/")[-1] for w in clone.weights] == [w.path.split("/")[-1] for w in layer.weights]
    for actual, wanted in zip(run(clone, inputs), expected, strict=True):
        np.testing.assert_array_equal(actual, wanted)


def assert_output_shapes(layer, inputs, outputs):
    """`compute_output_shape` and a symbolic (functional) call both give the eager output shapes."""
    listed = isinstance(inputs, list)
    eager = [tuple(y.shape) for y in outputs]
    computed = layer.compute_output_shape([x.shape for x in inputs] if listed else inputs.shape)
    single = len(computed) == 0 or not isinstance(computed[0], (tuple, list))
    assert ([tuple(computed)] if single else [tuple(s) for s in computed]) == eager
    symbolic = [keras.Input(batch_shape=x.shape) for x in (inputs if listed else [inputs])]
    spec = layer(symbolic if listed else symbolic[0])
    assert [tuple(s.shape) for s in keras.tree.flatten(spec)] == eager


def assert_mixed_float16(make_layer, inputs, weights, expected, tolerance=1e-2):
    """Built by `make_layer()` under the global mixed_float16 policy: float32 weights, float16
    outputs, finite and within `tolerance` (relative to the largest value) of the float32 outputs."""
    with global_dtype_policy("mixed_float16"):
        layer = build_with_weights(make_layer(), inputs, weights)
        outputs = run(layer, inputs)
    assert {keras.backend.standardize_dtype(w.dtype) for w in layer.weights} <= {"float32"}
    for actual, wanted in zip(outputs, expected, strict=True):
        assert actual.dtype == np.float16, actual.dtype
        assert np.all(np.isfinite(actual))
        error = relative_error(actual.astype(np.float32), wanted)
        assert error < tolerance, error


def save_bundle(path, cases):
    """Writes each case's serialized layer, inputs and weights to one .npz for the JAX child."""
    arrays = {}
    for case, (layer, inputs, weights) in cases.items():
        arrays[f"{case}/config"] = np.array(serialize(layer))
        for i, x in enumerate(inputs if isinstance(inputs, list) else [inputs]):
            arrays[f"{case}/input{i}"] = x
        for i, w in enumerate(weights):
            arrays[f"{case}/weight{i}"] = w
    np.savez(path, **arrays)


def _entries(data, case, kind):
    count = sum(1 for key in data.files if key.startswith(f"{case}/{kind}"))
    return [data[f"{case}/{kind}{i}"] for i in range(count)]


def jax_main(bundle_path, out_path):
    """Child process (KERAS_BACKEND=jax): rebuilds every case from its config, loads its weights and
    writes its outputs; a case that fails writes its traceback instead, so the others still run."""
    assert keras.backend.backend() == "jax", keras.backend.backend()
    results = {}
    with np.load(bundle_path) as data:
        cases = sorted({key.split("/")[0] for key in data.files})
        for case in cases:
            try:
                inputs = _entries(data, case, "input")
                inputs = inputs if isinstance(LAYER_CASES[case][2], list) else inputs[0]
                layer = build_with_weights(deserialize(str(data[f"{case}/config"])), inputs,
                                           _entries(data, case, "weight"))
                for i, y in enumerate(run(layer, inputs)):
                    results[f"{case}/output{i}"] = y
            except Exception:  # noqa: BLE001  (reported per case by the test)
                results[f"{case}/error"] = np.array(traceback.format_exc())
    np.savez(out_path, **results)


def load_results(path, case):
    """`(outputs, error)` of one case from the JAX child's .npz."""
    with np.load(path) as data:
        if f"{case}/error" in data.files:
            return None, str(data[f"{case}/error"])
        return _entries(data, case, "output"), None
