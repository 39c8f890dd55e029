"""CaiT: timm parameter count and MACs, parity with a reduced timm CaiT, intermediates, export."""

import numpy as np
import pytest

import keras_hire
from keras_hire.models import CaiT
from tests.test_vit import TIMM_SOURCES, assert_matches_timm, images, timm_reference

# Reduced CaiT: 2 patch blocks, 1 class-attention block, dim 48, 4 heads, 32x32 images, 8x8 patches.
# timm's side: make_timm_fixtures.CASES["cait_s24"].
REDUCED = dict(patch_size=8, embed_dim=48, depth=2, num_heads=4, class_attention_depth=1, num_classes=5,
               input_shape=(32, 32, 3))


def test_cait_s24_parameter_count_and_macs_equal_timm():
    model = keras_hire.models.CaiTS24()
    # sum(p.numel() for p in timm.create_model("cait_s24_224").parameters())
    assert keras_hire.utils.count_params(model) == 46_916_200
    assert keras_hire.utils.count_macs(model) == 9_327_327_744  # the CaiT paper: 9.4 GFLOPs
    assert model.depth == 24 and model.class_attention_depth == 2 and model.layer_scale_init == 1e-5


@pytest.mark.parametrize("source", TIMM_SOURCES)
def test_reduced_cait_logits_and_block_tokens_equal_timm(source, tmp_path):
    assert_matches_timm(CaiT(**REDUCED), timm_reference("cait_s24", source, tmp_path))


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
