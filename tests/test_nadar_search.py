"""The NADAR dilation search and its discretised hybrid: mixed-op cells, the three-gradient step with
the constraint and the FLOPs factor, the genotype, the registered static hybrid, and its export."""

import os

import keras
import numpy as np
import pytest

from keras_hire.layers.dilation_ops import PRIMITIVES, make_op, op_macs
from keras_hire.methods.robustness.search import DilationSearch
from keras_hire.models import NadarHybrid, create_model
from keras_hire.models.nadar_hybrid import genotype_tuple
from keras_hire.training import load_initial_weights
from tests.crash_callbacks import CountSteps, Crash, CrashAfterFirstEpoch

MEAN, STD = (0.1307 * 255,), (0.3081 * 255,)


def _search(**overrides):
    keras.utils.set_random_seed(0)
    arguments = dict(widths=(8, 16), stem_width=8, epsilon=0.3, step_size=0.15, steps=2, rho=0.5)
    arguments.update(overrides)
    model = DilationSearch((28, 28, 1), 10, MEAN, STD, **arguments)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    return model


def _batch(count=16):
    from keras_hire.data import mnist_5k_arrays

    images, labels = mnist_5k_arrays()["train"]
    order = np.random.RandomState(0).permutation(len(images))[:count]
    return (images[order].astype("float32") - MEAN[0]) / STD[0], np.eye(10, dtype="float32")[labels[order]]


@pytest.mark.parametrize("primitive", PRIMITIVES)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_cell_operation_keeps_channels_and_strides(primitive, stride):
    x = np.random.RandomState(0).rand(2, 14, 10, 8).astype("float32")
    y = keras.ops.convert_to_numpy(make_op(primitive, 8, stride, "op")(x))
    assert y.shape == (2, 14 // stride, 10 // stride, 8)
    assert op_macs(primitive, 8, stride, (14, 10)) >= 0


# The step tests search one-node cells with one PGD step; even so the step's graph (two attacks, seven
# hybrid passes, three gradients) takes 75-95 s to trace on 2 cores, so they run with `-m slow`.
STEP = dict(nodes=1, steps=1)


@pytest.mark.slow
def test_search_step_moves_backbone_cells_and_architecture_and_the_multiplier():
    model = _search(**STEP)
    x, y = _batch()
    model(x[:1])
    before = {name: keras.ops.convert_to_numpy(v).copy() for name, v in
              (("alphas", model.alphas), ("stem", model.stem.weights[0]), ("cell", model.cells[0].weights[0]))}
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for name, variable in (("alphas", model.alphas), ("stem", model.stem.weights[0]),
                           ("cell", model.cells[0].weights[0])):
        assert np.abs(keras.ops.convert_to_numpy(variable) - before[name]).max() > 0, name
    c = history.history["constraint"][0]
    assert float(model.lambda_w) == pytest.approx(0.5 * c, rel=1e-4, abs=1e-6)  # lambda <- lambda + rho * c
    assert history.history["flops_factor"][0] == pytest.approx(
        0.2 * np.log(history.history["expected_macs"][0]) ** 0.6, rel=1e-4)


@pytest.mark.slow
def test_without_the_constraint_the_multipliers_stay_at_zero():
    model = _search(constraint=False, **STEP)
    x, y = _batch()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert float(model.lambda_w) == 0.0 and float(model.lambda_a) == 0.0


def test_the_multiplier_step_is_lambda_plus_rho_c_and_clips_at_zero_only_when_asked():
    from keras_hire.methods.robustness.search import updated_multiplier

    assert float(updated_multiplier(0.2, 0.5, 0.1)) == pytest.approx(0.25)
    assert float(updated_multiplier(0.2, -5.0, 0.1)) == pytest.approx(-0.3)  # the official, unclipped update
    assert float(updated_multiplier(0.2, -5.0, 0.1, nonnegative=True)) == 0.0
    assert float(updated_multiplier(0.2, 0.5, 0.1, nonnegative=True)) == pytest.approx(0.25)


def test_expected_macs_lie_between_the_backbone_and_the_costliest_cells():
    model = _search()
    macs = float(model.expected_macs())
    assert model.backbone_macs < macs < model.backbone_macs + 2 * model._op_macs.max(-1).sum()
    model.alphas.assign(np.tile(np.eye(len(PRIMITIVES))[0] * 50, (model.alphas.shape[0], 1)))  # all "none"
    assert float(model.expected_macs()) == pytest.approx(model.backbone_macs, rel=1e-3)


def test_the_searched_backbone_is_a_digits_cnn_that_the_hybrid_starts_from(tmp_path):
    model = _search(stem_width=4)
    x, _ = _batch(4)
    backbone = model.backbone()
    assert backbone.name == "digits_cnn"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(backbone(x)),
                               keras.ops.convert_to_numpy(model.backbone_logits(x)), atol=1e-5)
    path = str(tmp_path / "model.keras")
    backbone.save(path)  # what the search run writes as model.keras
    hybrid = create_model("nadar_hybrid_digits", genotype=model.genotype(), widths=(8, 16), stem_width=4)
    weighted = sum(1 for layer in backbone.layers if layer.weights)  # stem, 2 x (reduce, mix) as conv + BN, fc
    assert weighted == 11 and f"copied {weighted} layers" in load_initial_weights(hybrid, path)
    np.testing.assert_array_equal(hybrid.get_layer("block2.mix.conv").kernel,
                                  backbone.get_layer("block2.mix.conv").kernel)


def test_genotype_discretises_to_a_registered_hybrid_that_keeps_a_trained_backbone(tmp_path):
    model = _search()
    strong = np.zeros(model.alphas.shape, "float32")
    strong[:, PRIMITIVES.index("sep_conv_3x3")] = 5.0
    model.alphas.assign(strong)
    genotype = model.genotype()
    assert len(genotype) == 4 and {op for op, _ in genotype} == {"sep_conv_3x3"}
    hybrid = create_model("nadar_hybrid_digits", genotype=genotype, widths=(8, 16), stem_width=8)
    assert hybrid.genotype == genotype_tuple(genotype)
    backbone = create_model("digits_cnn", widths=(8, 16), stem_width=8)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    assert "copied" in load_initial_weights(hybrid, path)
    np.testing.assert_array_equal(hybrid.get_layer("stem.conv").kernel, backbone.get_layer("stem.conv").kernel)
    assert hybrid.count_params() > backbone.count_params()


@pytest.mark.parametrize("genotype, message", [
    ((("sep_conv_3x3", 0),), "two \\(operation, state\\) pairs per node"),
    ((("none", 0), ("skip_connect", 1)), "uses 'none'"),
    ((("sep_conv_3x3", 0), ("skip_connect", 2)), "reads state 2"),
])
def test_bad_genotypes_fail_naming_the_fix(genotype, message):
    with pytest.raises(ValueError, match=message):
        NadarHybrid(genotype=genotype)


def test_hybrid_exports_to_float32_and_int8_on_xnnpack(tmp_path):
    import json
    import subprocess
    import sys

    from tests.binary_runs import REPO, child_env

    out = tmp_path / "export.json"
    child = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "robustness_export.py"),
                            f"--output={out}", "--num_eval=500"], cwd=REPO, env=child_env(), capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["float32"]["not_delegated"] == {} and results["float32"]["agreement"] >= 0.999
    # The cell input's standalone int8 RELU, which XNNPACK refuses, runs as a float island. One epoch
    # leaves the hybrid about 22% accurate, so many digits are near ties: agreement 0.918 measured.
    assert results["int8"]["not_delegated"] == {} and results["int8"]["agreement"] >= 0.85
    assert set(results["int8"]["float_islands"]) <= {"RELU"}


def _search_config(model_dir):
    from keras_hire.methods.robustness.config import NadarConfig
    from keras_hire.training import TrainConfig

    train = TrainConfig(model="digits_cnn", model_kwargs={"widths": [8, 16], "stem_width": 8, "nodes": 1}, epochs=2,
                        steps_per_epoch=2, eval_steps=1, batch_size=32, learning_rate=1e-2, label_smoothing=0.0,
                        jit_compile=False, tensorboard=False, verbose=0, model_dir=str(model_dir))
    return NadarConfig(train=train, mode="search", epsilon=0.3, step_size=0.75, steps=1, rho=0.5)


@pytest.mark.slow
def test_a_killed_search_resumes_to_the_uninterrupted_architecture_and_multipliers(tmp_path):
    import json

    from keras_hire.methods.robustness.search import search

    with pytest.raises(Crash):  # dies after epoch 1 is committed
        search(_search_config(tmp_path / "resumed"), callbacks=[CrashAfterFirstEpoch()])
    counter = CountSteps()
    resumed = search(_search_config(tmp_path / "resumed"), callbacks=[counter])
    assert counter.steps == 2  # only epoch 2 ran again: a restart from scratch would take 4 steps
    straight = search(_search_config(tmp_path / "straight"))
    assert resumed["genotype"] == straight["genotype"]
    for key in ("alphas", "betas", "expected_macs"):
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, atol=1.5e-4, err_msg=key)  # 4-decimal JSON
    history = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["history"]
    straight_history = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    assert [record["epoch"] for record in history] == [1, 2]
    assert history[-1]["lambda_weights"] == pytest.approx(straight_history[-1]["lambda_weights"], rel=1e-5)
