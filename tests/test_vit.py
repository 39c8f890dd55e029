"""ViT/DeiT: timm parameter counts and MACs, parity with timm, intermediates, I/O contracts, export."""

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights
from keras_hire.convert.vit import resize_position_embedding
from keras_hire.models import VisionTransformer
from tests.fixtures import make_timm_fixtures as timm_fixtures
from tests.model_checks import relative_error

# The registered ViT/DeiT names; their parameter counts are pinned (to timm's) in tests/test_registry.py.
VIT_NAMES = ("deit_tiny", "deit_small", "deit_base", "deit_tiny_distilled", "deit_small_distilled",
             "deit_base_distilled", "vit_base_patch16")
# Reduced configurations for fast parity and export checks.
SMALL = dict(patch_size=8, embed_dim=48, depth=2, num_classes=5, input_shape=(32, 32, 3))
TINY = dict(patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=5, input_shape=(32, 32, 3))

# Each timm parity test runs against the committed fixture, and against the installed timm when
# asked for (`pytest -m timm`, after `pip install -e '.[timm]'`).
TIMM_SOURCES = ["fixture", pytest.param("live", marks=pytest.mark.timm)]


def timm_reference(name, source, tmp_path):
    """timm's outputs for the case `name` of tests/fixtures/make_timm_fixtures.py, as a dict.

    source="fixture" reads tests/fixtures/timm_<name>.npz; source="live" reruns the script against
    the installed timm, in a child process: timm imports torchvision, which segfaults in a process
    that has loaded TensorFlow first (as conftest does). `config` comes back parsed.
    """
    if source == "fixture":
        path = timm_fixtures.fixture_path(name)
    else:
        for package in ("torch", "timm"):  # found, not imported (see above)
            if importlib.util.find_spec(package) is None:
                pytest.skip(f"the live timm comparison needs {package}: pip install -e '.[timm]'")
        script = timm_fixtures.__file__
        result = subprocess.run([sys.executable, script, "--out", str(tmp_path), name],
                                check=False, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        path = timm_fixtures.fixture_path(name, tmp_path)
    with np.load(path) as data:
        reference = {key: data[key] for key in data.files}
    reference["config"] = json.loads(reference["config"].item())
    expected = json.loads(json.dumps(timm_fixtures.case_config(name)))
    changed = sorted(k for k, v in expected.items() if reference["config"].get(k) != v)
    if changed:
        raise AssertionError(f"{path} does not match make_timm_fixtures.CASES[{name!r}] in {changed}; "
                             "rerun tests/fixtures/make_timm_fixtures.py")
    return reference


def state_of(reference):
    return {k[len("state/"):]: v for k, v in reference.items() if k.startswith("state/")}


def assert_matches_timm(model, reference, num_blocks=2):
    """Loads the reference's state_dict (every entry) and compares the logits and block tokens."""
    state = state_of(reference)
    assert len(load_pytorch_weights(model, state)) == len(state)
    x = reference["input_nhwc"]
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4
    names = [f"block_{i}" for i in range(num_blocks)]
    taps = model.intermediate_model(names).predict(x, verbose=0)
    for name in names:
        assert relative_error(taps[name], reference[name]) < 1e-4, name


def images(n=2, size=32, seed=0):
    return np.random.RandomState(seed).randn(n, size, size, 3).astype(np.float32)


def test_deit_small_macs_equal_the_papers():
    # 4.6 GFLOPs in the DeiT and Aug-ViT papers (multiply-accumulates).
    assert keras_hire.utils.count_macs(keras_hire.models.create_model("deit_small")) == 4_598_882_304


def test_registry_names_build_with_overrides():
    expected = set(VIT_NAMES) | {"aug_vit_small", "aug_vit_base", "cait_s24"}
    assert expected <= set(keras_hire.models.list_models())
    for name in VIT_NAMES:
        model = keras_hire.models.create_model(name, depth=1, num_classes=3, input_shape=(32, 32, 3))
        assert model.depth == 1 and model.output_shape == (None, 3)
        assert model.name == name
    assert keras_hire.models.DeiTSmallDistilled().distilled


@pytest.mark.parametrize("source", TIMM_SOURCES)
def test_deit_tiny_logits_and_block_tokens_equal_timm(source, tmp_path):
    reference = timm_reference("deit_tiny", source, tmp_path)
    assert_matches_timm(keras_hire.models.create_model("deit_tiny", **SMALL), reference)


def test_timm_comparison_fails_on_a_transposed_projection():
    # A square Linear loaded without its transpose is the typical conversion bug; the shapes agree.
    reference = timm_reference("deit_tiny", "fixture", None)
    reference["state/blocks.1.attn.proj.weight"] = reference["state/blocks.1.attn.proj.weight"].T.copy()
    with pytest.raises(AssertionError):
        assert_matches_timm(keras_hire.models.create_model("deit_tiny", **SMALL), reference)


@pytest.mark.parametrize("source", TIMM_SOURCES)
def test_small_vit_logits_equal_timm(source, tmp_path):
    reference = timm_reference("vit_base_patch16", source, tmp_path)
    model = keras_hire.models.ViTBase16(embed_dim=48, depth=2, num_heads=4, num_classes=5, input_shape=(48, 48, 3))
    assert_matches_timm(model, reference)


@pytest.mark.parametrize("source", TIMM_SOURCES)
def test_distilled_deit_equals_timm_at_its_size_and_after_pos_embed_resampling(source, tmp_path):
    reference = timm_reference("deit_tiny_distilled", source, tmp_path)
    assert_matches_timm(keras_hire.models.DeiTTinyDistilled(**SMALL), reference)

    state = state_of(reference)
    model = keras_hire.models.DeiTTinyDistilled(**{**SMALL, "input_shape": (48, 48, 3)})
    load_pytorch_weights(model, state)  # a 4x4-grid checkpoint into a 6x6-grid model
    logits = model.predict(reference["resized_input_nhwc"], verbose=0)
    assert relative_error(logits, reference["resized_logits"]) < 1e-4
    for grid in reference["config"]["resize"]["grids"]:
        ours = resize_position_embedding(state["pos_embed"], grid, num_prefix_tokens=2)
        assert relative_error(ours, reference[f"pos_embed_{grid[0]}x{grid[1]}"]) < 1e-5, grid


def test_intermediate_outputs_expose_tokens_and_attention():
    model = VisionTransformer(**TINY, distilled=True)
    assert model.num_prefix_tokens == 2
    taps = model.intermediate_model()
    x = images()
    out = taps.predict(x, verbose=0)
    assert out["block_0"].shape == (2, 18, 24) and out["attn_1"].shape == (2, 3, 18, 18)
    np.testing.assert_allclose(out["attn_0"].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["logits"], model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # Distilled inference is the average of the two heads, as timm's eval mode.
    np.testing.assert_allclose((out["logits_cls"] + out["logits_dist"]) / 2, out["logits"], rtol=1e-5, atol=1e-6)
    features = model.feature_extractor().predict(x, verbose=0)
    assert features["block_1"].shape == (2, 4, 4, 24)
    np.testing.assert_allclose(features["block_1"].reshape(2, 16, 24), out["block_1"][:, 2:], rtol=1e-6)
    with pytest.raises(ValueError, match="attn_7"):
        model.intermediate_model(["attn_7"])


def test_headless_model_returns_normalised_tokens():
    model = VisionTransformer(**{**TINY, "include_top": False})
    assert model.output_shape == (None, 17, 24)


def test_training_mode_runs_and_drop_path_is_stochastic():
    model = VisionTransformer(**TINY, drop_path_rate=0.5)
    x = images()
    first, second = (keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(2))
    assert not np.allclose(first, second)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))


def test_bad_arguments_and_inputs_raise_errors_that_name_the_value():
    with pytest.raises(ValueError, match=r"multiples of\s+8"):
        VisionTransformer(**{**TINY, "input_shape": (30, 32, 3)})
    with pytest.raises(ValueError, match="num_heads=5"):
        VisionTransformer(**{**TINY, "num_heads": 5})
    with pytest.raises(ValueError, match="'dense'"):
        VisionTransformer(**TINY, augmented_shortcuts="dense")
    with pytest.raises(ValueError, match="depth=0"):
        VisionTransformer(**{**TINY, "depth": 0})
    with pytest.raises(ValueError, match="static input_shape"):
        VisionTransformer(**{**TINY, "input_shape": (None, None, 3)})
    model = VisionTransformer(**TINY)
    with pytest.raises(ValueError, match="32x32"):
        model(np.zeros((1, 40, 40, 3), np.float32))


def test_checkpoint_problems_are_reported_before_anything_is_assigned():
    model = VisionTransformer(**TINY)
    state = {name: np.zeros(t.variable.shape, np.float32)
             for name, t in keras_hire.convert.model_targets(model).items()}
    state["qkv.weight"] = state.pop("blocks.0.attn.qkv.weight")
    before = model.get_layer("blocks.0.attn").q.kernel.numpy().copy()
    with pytest.raises(ValueError, match="blocks.0.attn.qkv.weight"):
        load_pytorch_weights(model, state)
    np.testing.assert_array_equal(model.get_layer("blocks.0.attn").q.kernel.numpy(), before)
    with pytest.raises(ValueError, match="not a square grid"):
        resize_position_embedding(np.zeros((1, 1 + 12, 24)), (4, 4))
