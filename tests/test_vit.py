"""ViT/DeiT: timm parameter counts and MACs, parity with timm, intermediates, I/O contracts, export."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights
from keras_hire.convert.vit import resize_position_embedding
from keras_hire.models import VisionTransformer
from tests.model_checks import assert_jax_matches, assert_keras_roundtrip, assert_tflite_matches, relative_error

# sum(p.numel() for p in model.parameters()) of timm 1.0's models at 224x224, 1000 classes.
TIMM_PARAMS = {
    "deit_tiny": 5_717_416,
    "deit_small": 22_050_664,
    "deit_base": 86_567_656,
    "deit_tiny_distilled": 5_910_800,
    "deit_small_distilled": 22_436_432,
    "deit_base_distilled": 87_338_192,
    "vit_base_patch16": 86_567_656,
}
TIMM_NAMES = {
    "deit_tiny": "deit_tiny_patch16_224",
    "deit_tiny_distilled": "deit_tiny_distilled_patch16_224",
    "vit_base_patch16": "vit_base_patch16_224",
}
# Reduced configurations for fast parity and export checks.
SMALL = dict(patch_size=8, depth=2, num_classes=5, input_shape=(32, 32, 3))
TINY = dict(patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=5, input_shape=(32, 32, 3))


# timm imports torchvision, which crashes in a process that has loaded TensorFlow first (as
# conftest does): the timm side of every parity test runs in a child process.
_TIMM_CHILD = """
import json, sys
import numpy as np, torch, timm
from timm.layers import resample_abs_pos_embed
name, kwargs, images_path, out_path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
resize = json.loads(sys.argv[5])
inputs = np.load(images_path)
images = torch.from_numpy(inputs["images"]).permute(0, 3, 1, 2)
torch.manual_seed(0)
model = timm.create_model(name, pretrained=False, **kwargs).eval()
with torch.no_grad():
    for parameter in model.parameters():  # non-trivial biases, LayerNorms and layer scales
        parameter.add_(0.05 * torch.randn_like(parameter))
    blocks = []
    hooks = [b.register_forward_hook(lambda m, i, o: blocks.append(o.numpy())) for b in model.blocks]
    logits = model(images).numpy()
    for hook in hooks:
        hook.remove()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    out = {"logits": logits, **{f"block_{i}": b for i, b in enumerate(blocks)}}
    out.update({"state/" + k: v for k, v in state.items()})
    if resize:  # timm at another size, from the same checkpoint with its default pos_embed resampling
        grid, prefix = resize["grid"], resize["prefix"]
        resized_images = torch.from_numpy(inputs["resized"])
        new_state = dict(model.state_dict())
        state_dict_pos = new_state["pos_embed"]
        new_state["pos_embed"] = resample_abs_pos_embed(new_state["pos_embed"], grid, num_prefix_tokens=prefix)
        other = timm.create_model(name, pretrained=False, **{**kwargs, "img_size": resize["img_size"]}).eval()
        other.load_state_dict(new_state)
        out["resized_logits"] = other(resized_images.permute(0, 3, 1, 2)).numpy()
        for i, g in enumerate(resize["extra_grids"]):
            out[f"extra_{i}"] = resample_abs_pos_embed(state_dict_pos, g, num_prefix_tokens=prefix).numpy()
np.savez(out_path, **out)
"""


def timm_reference(timm_name, images, tmp_path, resize=None, resized_images=None, **timm_kwargs):
    """A randomly initialised timm model (every parameter perturbed), run in a child process.

    Returns a dict: `logits`, `block_{i}` (each `blocks[i]` output), `state/<timm name>` (the
    state_dict, in keras_hire's fixture layout) and, with `resize`, timm's results at another size.
    """
    for package in ("torch", "timm"):  # found, not imported (see above)
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (pip install 'keras_hire[test]')")
    images_path, out_path = os.path.join(tmp_path, "timm_in.npz"), os.path.join(tmp_path, "timm_out.npz")
    extra = {} if resized_images is None else {"resized": resized_images}
    np.savez(images_path, images=images, **extra)
    result = subprocess.run(
        [sys.executable, "-c", _TIMM_CHILD, timm_name, json.dumps(timm_kwargs), images_path, out_path,
         json.dumps(resize)], capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"the timm reference failed ({result.returncode}):\n{result.stderr[-4000:]}")
    with np.load(out_path) as data:
        return {key: data[key] for key in data.files}


def state_of(reference):
    return {k[len("state/"):]: v for k, v in reference.items() if k.startswith("state/")}


def images(n=2, size=32, seed=0):
    return np.random.RandomState(seed).randn(n, size, size, 3).astype(np.float32)


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_variant_parameter_counts_equal_timm(name):
    model = keras_hire.models.create_model(name)
    assert keras_hire.utils.count_params(model) == TIMM_PARAMS[name]
    if name == "deit_small":  # 4.6 GFLOPs in the DeiT and Aug-ViT papers (multiply-accumulates)
        assert keras_hire.utils.count_macs(model) == 4_598_882_304


def test_registry_names_build_with_overrides():
    expected = set(TIMM_PARAMS) | {"aug_vit_small", "aug_vit_base", "cait_s24"}
    assert expected <= set(keras_hire.models.list_models())
    for name in sorted(TIMM_PARAMS):
        model = keras_hire.models.create_model(name, depth=1, num_classes=3, input_shape=(32, 32, 3))
        assert model.depth == 1 and model.output_shape == (None, 3)
        assert model.name == name
    assert keras_hire.models.DeiTSmallDistilled().distilled


def test_deit_tiny_logits_and_block_tokens_equal_timm(tmp_path):
    x = images()
    reference = timm_reference(TIMM_NAMES["deit_tiny"], x, tmp_path, img_size=32, num_classes=5, patch_size=8, depth=2)
    state = state_of(reference)
    model = keras_hire.models.create_model("deit_tiny", **SMALL)
    loaded = load_pytorch_weights(model, state)
    assert len(loaded) == len(state)
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4
    taps = model.intermediate_model([f"block_{i}" for i in range(2)]).predict(x, verbose=0)
    for i in range(2):
        assert relative_error(taps[f"block_{i}"], reference[f"block_{i}"]) < 1e-4


def test_small_vit_logits_equal_timm(tmp_path):
    x = images(size=48)
    reference = timm_reference(TIMM_NAMES["vit_base_patch16"], x, tmp_path, img_size=48, patch_size=16,
                               embed_dim=48, depth=2, num_heads=4, num_classes=5)
    model = keras_hire.models.ViTBase16(embed_dim=48, depth=2, num_heads=4, num_classes=5, input_shape=(48, 48, 3))
    load_pytorch_weights(model, state_of(reference))
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4


def test_distilled_deit_equals_timm_at_its_size_and_after_pos_embed_resampling(tmp_path):
    x, x48 = images(), images(size=48, seed=1)
    extra_grids = [(3, 3), (2, 5)]  # downsampling (antialiased) and a non-square grid
    resize = dict(grid=[6, 6], prefix=2, img_size=48, extra_grids=extra_grids)
    reference = timm_reference(TIMM_NAMES["deit_tiny_distilled"], x, tmp_path, resize=resize, resized_images=x48,
                               img_size=32, num_classes=5, patch_size=8, depth=2)
    state = state_of(reference)
    model = keras_hire.models.DeiTTinyDistilled(**SMALL)
    load_pytorch_weights(model, state)
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4
    taps = model.intermediate_model(["block_0", "block_1"]).predict(x, verbose=0)
    assert all(relative_error(taps[f"block_{i}"], reference[f"block_{i}"]) < 1e-4 for i in range(2))

    model = keras_hire.models.DeiTTinyDistilled(**{**SMALL, "input_shape": (48, 48, 3)})
    load_pytorch_weights(model, state)  # a 4x4-grid checkpoint into a 6x6-grid model
    assert relative_error(model.predict(x48, verbose=0), reference["resized_logits"]) < 1e-4
    for i, grid in enumerate(extra_grids):
        ours = resize_position_embedding(state["pos_embed"], grid, num_prefix_tokens=2)
        assert relative_error(ours, reference[f"extra_{i}"]) < 1e-5


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


@pytest.mark.slow
def test_keras_round_trip_jax_and_tflite(tmp_path):
    model = VisionTransformer(**TINY, distilled=True)
    x = images()
    assert_keras_roundtrip(model, x, tmp_path)
    arguments = ", ".join(f"{k}={v!r}" for k, v in {**TINY, "distilled": True}.items())
    builder = f"keras_hire.models.VisionTransformer({arguments})"
    assert_jax_matches(model, builder, x, tmp_path)
    ops = assert_tflite_matches(model, x, tmp_path)
    assert "GATHER" not in ops and "FULLY_CONNECTED" in ops
