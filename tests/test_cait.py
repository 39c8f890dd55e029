"""CaiT: timm parameter count and MACs, parity with a reduced timm CaiT, intermediates, export."""

import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights
from keras_hire.models import CaiT
from tests.model_checks import assert_jax_matches, assert_keras_roundtrip, assert_tflite_matches, relative_error
from tests.test_vit import images, state_of, timm_reference

# Reduced CaiT: 2 patch blocks, 1 class-attention block, dim 48, 4 heads, 32x32 images, 8x8 patches.
REDUCED = dict(patch_size=8, embed_dim=48, depth=2, num_heads=4, class_attention_depth=1, num_classes=5,
               input_shape=(32, 32, 3))
TIMM_REDUCED = dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4, depth_token_only=1,
                    num_classes=5)


def test_cait_s24_parameter_count_and_macs_equal_timm():
    model = keras_hire.models.CaiTS24()
    # sum(p.numel() for p in timm.create_model("cait_s24_224").parameters())
    assert keras_hire.utils.count_params(model) == 46_916_200
    assert keras_hire.utils.count_macs(model) == 9_327_327_744  # the CaiT paper: 9.4 GFLOPs
    assert model.depth == 24 and model.class_attention_depth == 2 and model.layer_scale_init == 1e-5


def test_reduced_cait_logits_and_block_tokens_equal_timm(tmp_path):
    x = images()
    reference = timm_reference("cait_s24_224", x, tmp_path, **TIMM_REDUCED)
    state = state_of(reference)
    model = CaiT(**REDUCED)
    assert len(load_pytorch_weights(model, state)) == len(state)
    assert relative_error(model.predict(x, verbose=0), reference["logits"]) < 1e-4
    taps = model.intermediate_model(["block_0", "block_1"]).predict(x, verbose=0)
    for i in range(2):
        assert relative_error(taps[f"block_{i}"], reference[f"block_{i}"]) < 1e-4


def test_intermediates_of_both_stages():
    model = CaiT(**REDUCED)
    assert model.num_prefix_tokens == 0
    out = model.intermediate_model().predict(images(), verbose=0)
    assert out["block_1"].shape == (2, 16, 48) and out["attn_1"].shape == (2, 4, 16, 16)
    assert out["cls_block_0"].shape == (2, 17, 48) and out["cls_attn_0"].shape == (2, 4, 1, 17)
    np.testing.assert_allclose(out["cls_attn_0"].sum(-1), 1.0, rtol=1e-5)
    # Class attention leaves the patch tokens unchanged.
    np.testing.assert_array_equal(out["cls_block_0"][:, 1:], out["block_1"])
    assert set(model.feature_extractor().output) == {"block_0", "block_1"}


def test_bad_arguments_raise_errors_that_name_the_value():
    with pytest.raises(ValueError, match="class_attention_depth=0"):
        CaiT(**{**REDUCED, "class_attention_depth": 0})
    with pytest.raises(ValueError, match=r"multiples of\s+8"):
        CaiT(**{**REDUCED, "input_shape": (36, 32, 3)})


@pytest.mark.slow
def test_keras_round_trip_jax_and_tflite(tmp_path):
    model = CaiT(**{**REDUCED, "embed_dim": 24, "num_heads": 3})
    x = images()
    assert_keras_roundtrip(model, x, tmp_path)
    config = {**REDUCED, "embed_dim": 24, "num_heads": 3}
    builder = "keras_hire.models.CaiT(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"
    assert_jax_matches(model, builder, x, tmp_path)
    assert_tflite_matches(model, x, tmp_path)
