"""Native Keras 3 QAT: TensorFlow's fake-quant arithmetic, the QAT layers' ranges and state, int8 files per family."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hire.methods.quantization.native_qat import (
    export_native_qat,
    prepare_native_qat,
    qat_products,
    qat_ranges,
    strip_native_qat,
)
from keras_hire.methods.quantization.qat_layers import EMA_DECAY, QatBatchNormalization
from keras_hire.methods.quantization.qat_ops import fake_quant_tensor_range, fake_quant_weights
from keras_hire.models import create_model

SHAPE = (32, 32, 3)
TINY = {  # family -> (registry name, kwargs)
    "deit": ("deit_tiny", dict(patch_size=4, embed_dim=16, depth=1, num_heads=2)),
    "cait": ("cait_s24", dict(patch_size=4, embed_dim=16, depth=1, num_heads=2, class_attention_depth=1)),
    "aug_vit": ("aug_vit_small", dict(patch_size=4, embed_dim=16, depth=1, num_heads=2)),
    "hire_mlp": ("hire_mlp_tiny", dict(depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 16))),
    "cmt": ("cmt_tiny", dict(embed_dims=(8, 16, 16, 16), stem_channels=8, depths=(1, 1, 1, 1), fc_dim=32)),
}


def _tiny(family, seed=0):
    name, kwargs = TINY[family]
    keras.utils.set_random_seed(seed)
    return create_model(name, num_classes=10, input_shape=SHAPE, **kwargs)


def _images(count=16, seed=0):
    return np.random.default_rng(seed).normal(size=(count,) + SHAPE).astype(np.float32)


@pytest.mark.parametrize("low, high, narrow", [(-2.0, 5.0, False), (0.0, 4.0, False), (-7.3, 0.2, True),
                                               (-0.013, 0.71, False)])
def test_fake_quant_equals_tensorflows_op_and_its_gradient(low, high, narrow):
    x = tf.constant(np.random.default_rng(1).normal(scale=3.0, size=(4, 6, 6, 8)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = fake_quant_tensor_range(x, tf.constant(low), tf.constant(high), narrow_range=narrow)
        theirs = tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8, narrow_range=narrow)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)
    ours_grad, theirs_grad = tape.gradient(ours, x).numpy(), tape.gradient(theirs, x).numpy()
    assert 0 < ours_grad.sum() < ours_grad.size  # straight through inside the range, zero outside
    np.testing.assert_array_equal(ours_grad, theirs_grad)


def test_per_channel_weights_are_symmetric_narrow_and_equal_tensorflows_op():
    kernel = np.random.default_rng(2).normal(size=(3, 3, 4, 6)).astype(np.float32)
    ours = fake_quant_weights(tf.constant(kernel), per_channel=True).numpy()
    magnitude = np.abs(kernel).max(axis=(0, 1, 2))
    theirs = tf.quantization.fake_quant_with_min_max_vars_per_channel(kernel, -magnitude, magnitude, num_bits=8,
                                                                      narrow_range=True).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    for channel in range(6):  # 255 symmetric levels of step max|w| / 127 per output channel
        steps = ours[..., channel] / (magnitude[channel] / 127)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
        assert np.abs(steps).max() == pytest.approx(127, abs=1e-3)


def test_prepare_swaps_every_product_and_calibrates_minmax_ranges():
    model = _tiny("deit")
    images = _images()
    qat = prepare_native_qat(model, images)
    # patch embedding + q, k, v, proj, fc1, fc2 + head; the float model is left as it was
    assert len(qat_products(qat)) == 1 + 6 + 1
    assert not qat_products(model)
    ranges = qat_ranges(qat)
    assert ranges["patch_embed.proj"]["input"] == pytest.approx([float(images.min()), float(images.max())])
    assert all(r["input"][0] <= 0 <= r["input"][1] and r["output"][0] <= 0 <= r["output"][1] for r in ranges.values())
    float_logits = model(images, training=False)
    qat_logits = qat(images, training=False)
    assert 0 < np.abs(float_logits - qat_logits).max() < 0.1 * np.std(float_logits) + 1e-3


def test_training_moves_the_ranges_by_tfmots_moving_average():
    qat = prepare_native_qat(_tiny("deit"), _images())
    layer = qat.get_layer("patch_embed.proj")
    before = keras.ops.convert_to_numpy(layer.input_range)
    batch = _images(8, seed=3) * 4.0  # wider than the calibration: the range must grow by (1 - decay)
    qat(batch, training=True)
    expected = EMA_DECAY * before + (1 - EMA_DECAY) * np.array([min(batch.min(), 0), max(batch.max(), 0)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.input_range), expected, rtol=1e-5)
    qat(batch, training=False)  # inference leaves them
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.input_range), expected, rtol=1e-5)


def test_weights_with_ranges_round_trip_and_a_float_file_is_refused(tmp_path):
    images = _images()
    qat = prepare_native_qat(_tiny("hire_mlp"), images)
    qat(images * 2.0, training=True)  # move the ranges off their calibration
    path = str(tmp_path / "qat.weights.h5")
    qat.save_weights(path)
    fresh = prepare_native_qat(_tiny("hire_mlp", seed=1), images[:1])
    fresh.load_weights(path)
    assert qat_ranges(fresh) == qat_ranges(qat)
    np.testing.assert_allclose(fresh(images, training=False), qat(images, training=False), atol=1e-6)
    float_path = str(tmp_path / "float.weights.h5")
    _tiny("hire_mlp").save_weights(float_path)
    with pytest.raises(ValueError, match=r"this QAT layer needs .*load a checkpoint of the same QAT model"):
        fresh.load_weights(float_path)


def test_strip_gives_the_float_model_with_the_trained_weights():
    images = _images()
    model = _tiny("deit")
    qat = prepare_native_qat(model, images)
    for variable in qat.trainable_variables:
        variable.assign(variable * 1.5)  # as training would change them
    stripped = strip_native_qat(qat, _tiny("deit", seed=4))
    assert not qat_products(stripped)
    expected = [v.numpy() for v in qat.trainable_variables]
    for got, want in zip([v.numpy() for v in stripped.trainable_variables], expected):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="is not the architecture of"):
        strip_native_qat(qat, _tiny("hire_mlp"))


def test_batch_norms_after_convolutions_are_folded_as_tfmot_does():
    qat = prepare_native_qat(_tiny("hire_mlp"), _images())
    folded = [layer for layer in qat._flatten_layers(include_self=False)
              if isinstance(layer, QatBatchNormalization) and layer.output_range is not None]
    # the patch embedding, three downsamplings and two per Hire module (four blocks)
    assert len(folded) == 1 + 3 + 2 * 4
    ranges = qat_ranges(qat)
    assert ranges["patch_embed.proj"]["output"] is None and ranges["patch_embed.norm"]["output"] is not None
    unfolded = [layer for layer in qat._flatten_layers(include_self=False)
                if type(layer) is keras.layers.BatchNormalization]
    assert len(unfolded) == 2 * 4 + 1  # each block's norm1 and norm2 follow no convolution; the final norm neither


@pytest.mark.parametrize("family", list(TINY))
def test_every_family_exports_an_int8_file_xnnpack_takes_op_for_op(family):
    from ai_edge_litert.interpreter import Interpreter

    from keras_hire.benchmark.coverage import xnnpack_coverage
    from keras_hire.export.interpreter import run_tflite

    images = _images()
    model = _tiny(family)
    head = [layer for layer in model._flatten_layers() if type(layer) is keras.layers.Dense][-1]
    fan_in = head.kernel.shape[0]  # a unit-scale head: the zero-ish initial head would make any logits agree
    head.kernel.assign(np.random.default_rng(0).normal(size=head.kernel.shape).astype(np.float32) / fan_in ** 0.5)
    qat = prepare_native_qat(model, images)
    flatbuffer = export_native_qat(qat)
    assert xnnpack_coverage(flatbuffer)["not_delegated"] == {}
    interpreter = Interpreter(model_content=flatbuffer)
    int8_products = collections.Counter(
        op["op_name"] for op in interpreter._get_ops_details()
        if op["op_name"] in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")
        and interpreter._get_tensor_details(op["inputs"][1], 0)["dtype"] == np.int8)
    assert sum(int8_products.values()) >= len(qat_products(qat)) - 2  # every product, maybe a fold or two fused
    keras_logits = np.asarray(qat.predict(images, verbose=0))
    file_logits = run_tflite(flatbuffer, images)
    assert (keras_logits.argmax(1) == file_logits.argmax(1)).mean() >= 15 / 16
    # int32 accumulation flips an output rounding here and there, and a random-init net amplifies the flips:
    # measured up to 12 steps of the head's 8-bit output grid (DeiT, CMT), 4 (Aug-ViT), 1 (Hire-MLP, CaiT)
    low, high = keras.ops.convert_to_numpy(qat_products(qat)[-1].output_range)
    assert np.abs(file_logits - keras_logits).max() <= 16 * (high - low) / 255


def test_bad_inputs_name_the_problem_and_the_fix():
    model, images = _tiny("deit"), _images()
    with pytest.raises(ValueError, match=r"init must be one of"):
        prepare_native_qat(model, images, init="mse")
    with pytest.raises(ValueError, match=r"init='ptq' needs ptq_intervals"):
        prepare_native_qat(model, images, init="ptq")
    with pytest.raises(ValueError, match=r"non-empty \(n, h, w, c\) array"):
        prepare_native_qat(model, images[0])
    inputs = keras.Input((4,))
    no_products = keras.Model(inputs, keras.layers.LayerNormalization()(inputs))
    with pytest.raises(ValueError, match=r"no Dense, Conv2D or DepthwiseConv2D layer"):
        prepare_native_qat(no_products, np.zeros((2, 4), np.float32)[:, None, None, :])
    with pytest.raises(ValueError, match=r"has no QAT layer"):
        export_native_qat(model)


def test_ptq_init_sets_cait_class_attention_ranges_from_the_searched_intervals():
    from keras_hire.methods.quantization import quantize_vit

    model, images = _tiny("cait"), _images()
    intervals = quantize_vit(model, images, bits=8, grid_size=4, max_rounds=1).intervals
    qat = prepare_native_qat(model, images, init="ptq", ptq_intervals=intervals)
    attention = qat.get_layer("blocks_token_only.0.attn")
    k_delta = intervals["blocks_token_only.0.attn.matmul_qk"].weight
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attention.k.output_range), [-128 * k_delta, 127 * k_delta],
                               rtol=1e-6)
    v_delta = intervals["blocks_token_only.0.attn.matmul_av"].weight
    np.testing.assert_allclose(keras.ops.convert_to_numpy(attention.v.output_range), [-128 * v_delta, 127 * v_delta],
                               rtol=1e-6)
