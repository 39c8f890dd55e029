"""DRNet: the FLOPs loss, Gumbel selection, resolution-aware BN, the DR classifier, the two training
models and the bad-input errors (the end-to-end runs are in tests/test_drnet_binary.py)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_hire
from keras_hire.layers import ResolutionBatchNorm
from keras_hire.methods.dynamic_resolution import (
    DRNet,
    DRNetConfig,
    MultiResolutionClassifier,
    check_target,
    flops_loss,
    gumbel_select,
    load_classifier,
    resize,
    resolution_costs,
    resolution_predictor,
)
from keras_hire.methods.dynamic_resolution.run import _check_earlier_run
from keras_hire.models.dr_resnet import DRResNet
from keras_hire.training import TrainConfig
from keras_hire.utils.config import ConfigError

RESOLUTIONS = (64, 48, 32)
# Widths of 16+: oneDNN's 1x1 stride-2 filter gradient crashes for 8 -> 16 channels at odd batch sizes
# (docs/dynamic_resolution.md), which the per-resolution split produces.
TINY = dict(block="basic", depths=(1, 1, 1, 1), channels=(16, 32, 48, 64), stem_width=16, resolutions=RESOLUTIONS,
            num_classes=10, in_channels=1)


def _tiny_drnet(target=None, predictor_lr_scale=0.1, seed=0):
    keras.utils.set_random_seed(seed)
    classifier = DRResNet(**TINY)
    predictor = resolution_predictor(3, 32, (16, 16, 32, 32), 16, in_channels=1)
    return DRNet(classifier, predictor, resolution_costs(classifier, predictor), target=target,
                 predictor_lr_scale=predictor_lr_scale, seed=seed)


def _digits(n=12, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 1), np.float32), keras.utils.to_categorical(np.arange(n) % 10, 10)


def test_flops_loss_is_the_papers_normalised_hinge():
    costs = [4.0, 3.0, 1.0]
    choices = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)  # mean cost 3.0
    assert float(flops_loss(choices, costs, 2.0)) == pytest.approx((3.0 - 2.0) / 3.0)
    assert float(flops_loss(choices, costs, 3.0)) == 0.0 and float(flops_loss(choices, costs, 3.5)) == 0.0
    soft = np.full((2, 3), 1 / 3, np.float32)  # expected cost 8/3: weights, not only one-hots
    assert float(flops_loss(soft, costs, 1.0)) == pytest.approx((8 / 3 - 1.0) / 3.0, rel=1e-6)
    assert float(flops_loss(choices, [2.0, 2.0, 2.0], 1.0)) == 0.0  # no range: no constraint


def test_flops_loss_gradient_reaches_the_choices_only_above_the_target():
    choices = tf.Variable(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    # d loss / d choices[b, j] = costs[j] / (batch * (max - min)) above the target, 0 below it.
    for target, expected in ((0.5, [[5 / 8, 1 / 8]] * 2), (3.5, [[0.0, 0.0]] * 2)):
        with tf.GradientTape() as tape:
            loss = flops_loss(choices, [5.0, 1.0], target)
        np.testing.assert_allclose(tape.gradient(loss, choices), expected, rtol=1e-6)


def test_gumbel_selection_is_a_straight_through_one_hot_in_training_and_the_argmax_at_inference():
    logits = tf.Variable(np.log(np.array([[0.7, 0.2, 0.1]] * 4000, np.float32)))
    np.testing.assert_array_equal(gumbel_select(logits[:3]), [[1, 0, 0]] * 3)  # no noise
    with tf.GradientTape() as tape:
        hard = gumbel_select(logits, training=True, temperature=0.5, seed=3)
        loss = tf.reduce_sum(hard * tf.constant([1.0, 2.0, 3.0]))
    values = hard.numpy()
    assert set(np.unique(values)) == {0.0, 1.0} and np.all(values.sum(-1) == 1)
    # Gumbel-max: each resolution is drawn with its softmax probability.
    np.testing.assert_allclose(values.mean(0), [0.7, 0.2, 0.1], atol=0.03)
    gradient = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0  # the soft path carries it
    np.testing.assert_allclose(gradient.sum(-1), 0.0, atol=1e-5)  # a softmax Jacobian's rows sum to 0
    with pytest.raises(ValueError, match="temperature must be > 0"):
        gumbel_select(logits, training=True, temperature=0.0)


def test_resolution_batch_norm_uses_and_updates_only_the_chosen_set():
    norm = ResolutionBatchNorm(3, momentum=0.5)
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, 5, 5, 2)).astype(np.float32)
    norm(x, index=0)
    norm(x, index=1, training=True)
    mean = norm.moving_mean.numpy()
    np.testing.assert_allclose(mean[1], 0.5 * x.mean((0, 1, 2)), rtol=1e-5)
    assert not mean[0].any() and not mean[2].any()
    norm(np.zeros((0, 5, 5, 2), np.float32), index=2, training=True)  # an empty group moves nothing
    assert not norm.moving_mean.numpy()[2].any()
    norm.gamma.assign(np.array([[1, 1], [2, 2], [3, 3]], np.float32))
    outputs = [keras.ops.convert_to_numpy(norm(x, index=i)) for i in range(3)]
    np.testing.assert_allclose(outputs[2] - norm.beta.numpy()[2], 3 * (outputs[0] - norm.beta.numpy()[0]), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match=r"index must be a Python int in \[0, 3\)"):
        norm(x, index=3)


def test_dr_classifier_shares_convolutions_and_keeps_one_bn_set_per_resolution(tmp_path):
    model = DRResNet(**TINY)
    plain = keras_hire.models.ResNet(**{k: v for k, v in TINY.items() if k not in ("resolutions", "in_channels")},
                                     input_shape=(64, 64, 1))
    extra_bn = sum(2 * (layer.num_sets - 1) * layer.gamma.shape[1] for layer in model.layers
                   if isinstance(layer, ResolutionBatchNorm))  # two more (gamma, beta) rows per BN layer
    assert keras_hire.utils.count_params(model) == keras_hire.utils.count_params(plain) + extra_bn
    images = [np.random.default_rng(i).random((2, r, r, 1), np.float32) for i, r in enumerate(RESOLUTIONS)]
    outputs = [keras.ops.convert_to_numpy(y) for y in model(images)]
    np.testing.assert_array_equal(model.classifier_at(2).predict(images[2], verbose=0), outputs[2])
    restored = keras_hire.methods.dynamic_resolution.drnet.keras.models.load_model(
        _saved(model, tmp_path), compile=False)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(restored(images)[1], outputs[1], rtol=1e-6)


def _saved(model, tmp_path, name="model.keras"):
    path = os.path.join(tmp_path, name)
    model.save(path)
    return path


@pytest.mark.parametrize("shortcut_norm,changes", [("per_resolution", True), ("first", False)])
def test_the_mindspore_shortcut_quirk_reads_bn_set_0_in_the_downsample(shortcut_norm, changes):
    model = DRResNet(**{**TINY, "shortcut_norm": shortcut_norm})
    x = np.random.default_rng(0).random((2, 48, 48, 1), np.float32)
    before = model.classifier_at(1).predict(x, verbose=0)
    shortcut = model.get_layer("layer2.0.downsample.1")
    shortcut.moving_mean.assign(shortcut.moving_mean.numpy() + np.array([[0.0], [5.0], [0.0]], np.float32))
    after = model.classifier_at(1).predict(x, verbose=0)
    assert (not np.allclose(before, after)) == changes


def test_shared_norm_holds_one_set():
    model = DRResNet(**{**TINY, "norm": "shared"})
    assert model.get_layer("layer1.0.bn1").gamma.shape == (1, 16)


def test_stage1_loss_is_the_sum_over_resolutions():
    keras.utils.set_random_seed(0)
    model = MultiResolutionClassifier(DRResNet(**TINY))
    x, y = _digits(4)
    total = float(model.compute_loss(x, y, model(x), training=False))
    parts = [keras.losses.categorical_crossentropy(y, model.branches[i](resize(x, r)), from_logits=True)
             for i, r in enumerate(RESOLUTIONS)]
    assert total == pytest.approx(sum(float(np.mean(p)) for p in parts), rel=1e-5)


def test_drnet_splits_the_batch_by_choice_and_steps_the_predictor_at_the_scaled_rate():
    model = _tiny_drnet(target=None, predictor_lr_scale=0.0)
    # Eager: tracing the three-branch graph costs minutes on 2 cores; tests/test_drnet_binary.py runs it traced.
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False, run_eagerly=True)
    x, y = _digits(12)
    predictor_before = [w.numpy().copy() for w in model.predictor.trainable_weights]
    classifier_before = model.classifier.get_layer("fc").kernel.numpy().copy()
    stats_before = model.classifier.get_layer("bn1").moving_mean.numpy().copy()
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]) and min(model.costs) <= logs["macs"] <= max(model.costs)
    # predictor_lr_scale=0: the predictor is not moved, the classifier is.
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(predictor_before, model.predictor.trainable_weights))
    assert not np.allclose(classifier_before, model.classifier.get_layer("fc").kernel.numpy())
    # Only the BN sets of resolutions that got images moved (the choice here is the Gumbel draw).
    moved = np.any(model.classifier.get_layer("bn1").moving_mean.numpy() != stats_before, axis=-1)
    assert moved.any()

    out = model.infer(x)
    chosen = [RESOLUTIONS.index(r) for r in out["resolution"]]
    np.testing.assert_allclose(out["macs"], np.asarray(model.costs)[chosen])
    for index in sorted(set(chosen)):  # each image's logits are its own resolution's classifier's
        rows = np.flatnonzero(np.asarray(chosen) == index)
        expected = keras.ops.convert_to_numpy(model.branches[index](resize(x[rows], RESOLUTIONS[index])))
        np.testing.assert_allclose(out["logits"][rows], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), out["logits"], rtol=1e-4, atol=1e-5)


def test_drnet_round_trips_through_keras(tmp_path):
    model = _tiny_drnet(target=2e6)
    x, _ = _digits(6)
    restored = keras.models.load_model(_saved(model, tmp_path), compile=False)
    np.testing.assert_allclose(restored.infer(x)["logits"], model.infer(x)["logits"], rtol=1e-5, atol=1e-6)
    assert restored.costs == model.costs and restored.target == 2e6


def test_costs_include_the_predictor_and_the_official_predictor_costs_0_29_gmacs():
    model = _tiny_drnet()
    predictor = keras_hire.utils.count_macs(model.predictor)
    assert model.costs == [keras_hire.utils.count_macs(model.classifier.classifier_at(i)) + predictor for i in range(3)]
    assert model.costs[0] > model.costs[1] > model.costs[2]
    official = resolution_predictor(3)
    assert keras_hire.utils.count_macs(official) / 1e9 == pytest.approx(0.29, abs=0.01)


def test_bad_inputs_raise_errors_that_name_the_problem_and_the_fix(tmp_path):
    with pytest.raises(ValueError, match="strictly descending"):
        DRResNet(**{**TINY, "resolutions": (32, 48, 64)})
    with pytest.raises(ValueError, match="not supported by the ResNet backbone"):
        DRResNet(**{**TINY, "resolutions": (64, 28)})
    with pytest.raises(ConfigError, match="strictly descending"):
        DRNetConfig(train=TrainConfig(model="resnet18"), resolutions=(112, 168, 224))
    with pytest.raises(ConfigError, match="is a ResNet"):
        DRNetConfig(train=TrainConfig(model="deit_tiny"))
    with pytest.raises(ValueError, match=r"outside \[1, 3\].*Pick a value in that range"):
        check_target(3.5, [3, 2, 1])
    # Stage 2 from a stage-1 classifier with another number of BN sets.
    path = _saved(DRResNet(**{**TINY, "resolutions": (64, 32)}), tmp_path, "stage1.keras")
    with pytest.raises(ValueError, match="has 2 BatchNorm sets.*this run has 3 resolutions"):
        load_classifier(path, RESOLUTIONS)
    with pytest.raises(FileNotFoundError, match="run --stage=1"):
        load_classifier(os.path.join(tmp_path, "missing.keras"), RESOLUTIONS)
    # Resuming a model_dir of a run with other resolutions.
    config = DRNetConfig(train=TrainConfig(model="resnet18", model_dir=str(tmp_path)), resolutions=RESOLUTIONS)
    with open(os.path.join(tmp_path, "drnet.json"), "w") as handle:
        json.dump({"resolutions": [64, 32]}, handle)
    with pytest.raises(ValueError, match="2 BatchNorm sets.*Use another --model_dir"):
        _check_earlier_run(str(tmp_path), config, [3, 2, 1])
    with pytest.raises(ValueError, match="predictor has 2 outputs"):
        DRNet(DRResNet(**TINY), resolution_predictor(2, 32, (16, 16, 32, 32), 16, 1), [3, 2, 1])


def test_stage2_starts_from_the_named_stage1_model(tmp_path, monkeypatch):
    """`stage1_model` lets several stage-2 runs (targets) share one stage 1 of another model_dir."""
    import keras_hire.training

    keras.utils.set_random_seed(3)
    stage1 = DRResNet(**TINY)
    path = _saved(stage1, tmp_path, "shared_stage1.keras")
    built = {}

    def fake_train(config, strategy=None, build_model=None, **kwargs):
        built[config.model_dir] = build_model(config, 10, (64, 64, 1))
        return {"final": {}}

    monkeypatch.setattr(keras_hire.training, "train", fake_train)
    train = TrainConfig(model="resnet18", model_kwargs={k: TINY[k] for k in ("depths", "channels", "stem_width")},
                        dataset="mnist_5k", model_dir=str(tmp_path / "target"))
    config = DRNetConfig(train=train, resolutions=RESOLUTIONS, stage="2", stage1_model=path, target_macs=2.5e6,
                         predictor_size=32, predictor_channels=(16, 16, 32, 32), predictor_stem_width=16)
    keras_hire.methods.dynamic_resolution.run_drnet(config, progress=lambda *_: None)
    (drnet,) = built.values()
    assert os.path.dirname(next(iter(built))) == str(tmp_path / "target")
    for mine, theirs in zip(drnet.classifier.weights, stage1.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert drnet.target == 2.5e6
    with pytest.raises(ConfigError, match="stage1_model.*--stage=both trains stage 1 itself"):
        DRNetConfig(train=train, stage="both", stage1_model=path)
    with pytest.raises(FileNotFoundError, match="--stage1_model=.*missing.keras does not exist"):
        keras_hire.methods.dynamic_resolution.run_drnet(config.replace(stage1_model=str(tmp_path / "missing.keras")),
                                                        progress=lambda *_: None)


def test_dr_classifier_loads_a_timm_resnet_into_every_bn_set():
    from tests.test_resnet import REDUCED
    from tests.test_vit import state_of, timm_reference

    reference = timm_reference("resnet18", "fixture", None)
    config = {k: v for k, v in REDUCED["resnet18"].items() if k != "input_shape"}
    model = DRResNet(**config, resolutions=(64, 32), in_channels=3)
    keras_hire.convert.load_pytorch_weights(model, state_of(reference))
    logits = model.classifier_at(0).predict(reference["input_nhwc"], verbose=0)
    assert np.max(np.abs(logits - reference["logits"])) / np.max(np.abs(reference["logits"])) < 1e-4
    np.testing.assert_array_equal(model.get_layer("bn1").moving_mean.numpy()[0], model.get_layer("bn1").moving_mean[1])


# Runs in a child (TFLite conversions leak memory in-process): one file, its signatures, the runner.
_EXPORT_CHILD = """
import json, os, sys, numpy as np
from tests.test_dynamic_resolution import _tiny_drnet, _digits
from keras_hire.export import DRNetRunner, export_drnet, to_tflite
from keras_hire.benchmark.coverage import xnnpack_coverage
model = _tiny_drnet()
out = sys.argv[1]
path = os.path.join(out, "drnet.tflite")
export_drnet(model, path)
runner = DRNetRunner(path)
x, _ = _digits(6)
keras_out = model.infer(x)
results = [runner.classify(image) for image in x]
try:
    runner.classify(np.zeros((64, 64, 3), np.float32))
    channel_error = ""
except ValueError as error:
    channel_error = str(error)
os.makedirs(os.path.join(out, "folder"))
import tensorflow as tf
for i in range(2):
    png = tf.io.encode_png(tf.cast(x[i] * 255, tf.uint8)).numpy()
    open(os.path.join(out, "folder", f"{i}.png"), "wb").write(png)
folder = runner.classify_folder(os.path.join(out, "folder"))
json.dump({"size": os.path.getsize(path), "separate": [len(to_tflite(b)) for b in model.branches],
           "signatures": sorted(runner.runners), "resolutions": [r["resolution"] for r in results],
           "keras_resolutions": keras_out["resolution"].tolist(),
           "error": float(max(np.abs(r["logits"] - k).max() for r, k in zip(results, keras_out["logits"]))),
           "not_delegated": xnnpack_coverage(path)["not_delegated"], "channel_error": channel_error,
           "folder": sorted(folder)}, open(os.path.join(out, "result.json"), "w"))
"""


def test_one_multi_signature_file_stores_the_convolutions_once_and_the_runner_matches_keras(tmp_path):
    from tests.model_checks import run_in_subprocess

    run_in_subprocess(f"import sys; sys.argv = ['child', {str(tmp_path)!r}]\n" + _EXPORT_CHILD)
    with open(os.path.join(tmp_path, "result.json")) as handle:
        result = json.load(handle)
    assert result["signatures"] == ["classify_32", "classify_48", "classify_64", "predictor"]
    assert result["resolutions"] == result["keras_resolutions"] and result["error"] < 1e-4
    assert result["not_delegated"] == {}  # XNNPACK takes every op of every signature
    # Shared convolution weights: the whole file is smaller than two of the m classifier files.
    assert result["size"] < 2 * min(result["separate"]) < sum(result["separate"])
    assert "1-channel images but the image has 3 channels" in result["channel_error"]
    assert result["folder"] == ["0.png", "1.png"]
