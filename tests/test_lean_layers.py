"""Layers whose inference graph is leaner than the textbook one must compute the same numbers."""

import collections
import math

import keras
import numpy as np
import pytest

from keras_hire.benchmark import xnnpack_coverage
from keras_hire.export import make_interpreter, tflite_op_names, to_tflite
from keras_hire.layers import InvertedResidualFFN, LayerNorm, ResidualDepthwiseConv2D


def _randomize(layer, rng):
    """Non-trivial values for every variable (moving variances stay positive)."""
    for variable in layer.weights:
        values = rng.standard_normal(variable.shape).astype(np.float32)
        if "variance" in variable.path:
            values = np.abs(values) + 0.5
        variable.assign(values)


def test_residual_depthwise_equals_input_plus_depthwise_conv():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 9, 5)).astype(np.float32)
    fused = ResidualDepthwiseConv2D(3)
    plain = keras.layers.DepthwiseConv2D(3, padding="same")
    fused.build(x.shape)
    plain.build(x.shape)
    _randomize(fused, rng)
    plain.set_weights(fused.get_weights())
    np.testing.assert_allclose(fused(x), x + plain(x), rtol=1e-5, atol=1e-5)
    assert [v.path.split("/")[-1] for v in fused.weights] == ["kernel", "bias"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(kernel_size=3, strides=2), "strides=1"),
    (dict(kernel_size=3, padding="valid"), "padding='same'"),
    (dict(kernel_size=2), "odd kernel_size"),
])
def test_residual_depthwise_rejects_what_has_no_centre_tap(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResidualDepthwiseConv2D(**kwargs)


def test_layer_norm_equals_keras_and_exports_fewer_ops():
    rng = np.random.default_rng(1)
    x = (3.0 * rng.standard_normal((1, 6, 8, 16)) + 1.0).astype(np.float32)
    ours, reference = LayerNorm(epsilon=1e-6), keras.layers.LayerNormalization(epsilon=1e-6)
    ours.build(x.shape)
    reference.build(x.shape)
    _randomize(ours, rng)
    reference.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)

    counts = {}
    for name, layer in (("ours", ours), ("keras", reference)):
        inputs = keras.Input(x.shape[1:])
        flatbuffer = to_tflite(keras.Model(inputs, layer(inputs)))
        counts[name] = collections.Counter(tflite_op_names(flatbuffer))
        interpreter = make_interpreter(flatbuffer)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
                                   reference(x), rtol=1e-4, atol=1e-4)
    assert sum(counts["ours"].values()) == 9, counts["ours"]
    assert sum(counts["ours"].values()) < sum(counts["keras"].values())


def test_layer_norm_rejects_other_axes():
    with pytest.raises(ValueError, match="last axis only"):
        LayerNorm(axis=1).build((1, 4, 4, 8))
    with pytest.raises(ValueError, match="rms_scaling"):
        LayerNorm(rms_scaling=True)


def _official_ffn(layer, x, training):
    """The official IRFFN: BN(GELU(conv1)), + DWConv shortcut, BN(GELU(.)), BN(conv2); numpy, float64."""
    erf = np.vectorize(math.erf)

    def gelu(t):
        return 0.5 * t * (1.0 + erf(t / np.sqrt(2.0)))

    def batch_norm(t, norm):
        if training:
            mean, variance = t.mean(axis=(0, 1, 2)), t.var(axis=(0, 1, 2))
        else:
            mean, variance = norm.moving_mean.numpy(), norm.moving_variance.numpy()
        return (t - mean) / np.sqrt(variance + norm.epsilon) * norm.gamma.numpy() + norm.beta.numpy()

    def pointwise(t, conv):
        return t @ conv.kernel.numpy()[0, 0] + conv.bias.numpy()

    x = x.astype(np.float64)
    h = batch_norm(gelu(pointwise(x, layer.conv1)), layer.conv1_norm)
    kernel = layer.proj.kernel.numpy()[:, :, :, 0]
    padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = sum(padded[:, i:i + h.shape[1], j:j + h.shape[2]] * kernel[i, j] for i in range(3) for j in range(3))
    h = batch_norm(gelu(conv + layer.proj.bias.numpy() + h), layer.proj_norm)
    return batch_norm(pointwise(h, layer.conv2), layer.conv2_norm)


@pytest.mark.parametrize("training,zero_gamma", [(False, False), (True, False), (False, True)])
def test_ffn_folded_inference_and_training_equal_the_official_computation(training, zero_gamma):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 6, 8)).astype(np.float32)
    layer = InvertedResidualFFN(8, 20)
    layer.build(x.shape)
    _randomize(layer, rng)
    if zero_gamma:  # a pruned channel: the folded inference divides by the BatchNorm scale
        gamma = layer.conv1_norm.gamma.numpy()
        gamma[3] = 0.0
        layer.conv1_norm.gamma.assign(gamma)
    np.testing.assert_allclose(layer(x, training=training), _official_ffn(layer, x, training), rtol=1e-4, atol=1e-4)


def test_dynamic_range_file_keeps_depthwise_float_and_runs_wholly_on_xnnpack():
    inputs = keras.Input((8, 8, 256))
    outputs = ResidualDepthwiseConv2D(3)(keras.layers.Dense(256)(inputs))  # a 2,304-weight depthwise filter
    model = keras.Model(inputs, outputs)
    flatbuffer = to_tflite(model, "dynamic")
    coverage = xnnpack_coverage(flatbuffer)
    assert coverage["delegated_count"] == coverage["total"], coverage["not_delegated"]
    from tensorflow.lite.python import schema_py_generated as schema

    parsed = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    names = tflite_op_names(flatbuffer)
    graph = parsed.subgraphs[0]
    filters = [graph.tensors[op.inputs[1]] for op, name in zip(graph.operators, names) if name == "DEPTHWISE_CONV_2D"]
    dense = [graph.tensors[op.inputs[1]] for op, name in zip(graph.operators, names) if name == "FULLY_CONNECTED"]
    assert [t.type for t in filters] == [schema.TensorType.FLOAT32]
    assert [t.type for t in dense] == [schema.TensorType.INT8]  # still a dynamic-range file
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 256)).astype(np.float32)
    interpreter = make_interpreter(flatbuffer)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    expected = model.predict(x, verbose=0)
    error = np.abs(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]) - expected).max()
    assert error < 0.05 * np.abs(expected).max(), error

