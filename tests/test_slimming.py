"""Patch slimming's `slim`: exactness against a numpy row-selection reference, save/load, MACs, bad input."""

import keras
import numpy as np
import pytest

from keras_hire.methods.slimming import full_keep, slim
from keras_hire.models import CaiT, VisionTransformer
from keras_hire.utils import count_macs
from tests.model_checks import assert_keras_roundtrip, relative_error
from tests.test_slimming_reference import slimmed_forward

BASE = dict(patch_size=8, embed_dim=16, depth=3, num_heads=2, num_classes=5, input_shape=(32, 32, 3))
FAMILIES = {
    "deit": lambda: VisionTransformer(**BASE),
    "deit_distilled": lambda: VisionTransformer(**BASE, distilled=True),
    "vit_tokens": lambda: VisionTransformer(**BASE, include_top=False),
    "aug_vit_linear": lambda: VisionTransformer(**BASE, augmented_shortcuts="linear"),
    "aug_vit_circulant": lambda: VisionTransformer(**BASE, augmented_shortcuts="circulant"),
    "aug_vit_circulant2": lambda: VisionTransformer(**BASE, augmented_shortcuts="circulant2", distilled=True),
    "cait": lambda: CaiT(**BASE, class_attention_depth=2, layer_scale_init=0.5),
    "cait_tokens": lambda: CaiT(**BASE, class_attention_depth=1, layer_scale_init=0.5, include_top=False),
}


def perturbed(model, seed=0):
    """`model` with every weight moved off its initialisation, so attention is far from uniform."""
    rng = np.random.RandomState(seed)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def random_keep(model, seed, survive=0.6):
    """Random nested sorted sets over the original indices, always holding the prefix tokens."""
    rng = np.random.RandomState(seed)
    tokens = full_keep(model)[0]
    required = set(range(model.num_prefix_tokens))
    keep, current = [], tokens
    for _ in range(model.depth):
        current = [t for t in current if t in required or rng.rand() < survive] or current[:1]
        keep.append(current)
    return keep


def images(n=3, seed=1):
    return np.random.RandomState(seed).normal(size=(n, 32, 32, 3)).astype("float32")


def run(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("seed, family", enumerate(sorted(FAMILIES)))
def test_slim_is_exact(seed, family):
    """All kept: the original outputs, bit for bit. Partial sets: the numpy row-selection reference."""
    model = perturbed(FAMILIES[family](), seed)
    x = images()
    original = run(model, x)
    everything = slim(model, full_keep(model))
    assert everything.keep == tuple(tuple(k) for k in full_keep(model))
    np.testing.assert_array_equal(run(everything, x), original)

    keep = random_keep(model, seed)
    slimmed = slim(model, keep)
    expected, expected_tokens = slimmed_forward(model, x, keep)
    actual = run(slimmed, x)
    assert actual.shape == expected.shape
    assert relative_error(actual, expected) < 1e-4
    # The sets matter (so this check can fail): the class-token output moved.
    assert relative_error(actual[:, :1] if actual.ndim == 3 else actual,
                          original[:, :1] if actual.ndim == 3 else original) > 1e-3
    taps = slimmed.intermediate_model([f"block_{i}" for i in range(model.depth)])(x)
    for i, tokens in enumerate(expected_tokens):
        assert relative_error(keras.ops.convert_to_numpy(taps[f"block_{i}"]), tokens) < 1e-4, f"block {i}"


def test_slimmed_model_saves_and_loads_exactly(tmp_path):
    model = perturbed(FAMILIES["deit_distilled"]())
    slimmed = slim(model, random_keep(model, 3))
    restored = assert_keras_roundtrip(slimmed, images(), tmp_path)
    assert restored.keep == slimmed.keep
    # Slimming a slimmed model again uses original indices; its weights are the same.
    again = slim(restored, full_keep(model))
    np.testing.assert_array_equal(again.predict(images(), verbose=0), model.predict(images(), verbose=0))


def test_unslimmed_config_has_keep_none_and_loads_without_it():
    model = FAMILIES["deit"]()
    config = model.get_config()
    assert config["keep"] is None
    del config["keep"]  # a .keras file written before slimming existed
    assert VisionTransformer.from_config(config).keep is None


def _vit_macs(counts, num_tokens, *, dim=16, patches=16, patch=8, hidden=64, classes=5, heads=1, shortcuts=0):
    """Textbook MACs of a ViT whose block l computes counts[l] tokens from counts[l-1] (num_tokens first)."""
    total = patches * patch * patch * 3 * dim  # patch embedding
    n_in = num_tokens
    for n_out in counts:
        total += n_out * dim * dim + 2 * n_in * dim * dim  # q on kept rows; k, v on the previous block's tokens
        total += 2 * n_out * n_in * dim  # q k^T and attention @ v: rectangular, N_out x N_in
        total += n_out * dim * dim + 2 * n_out * dim * hidden  # proj, MLP
        total += 2 * shortcuts * n_out * dim * dim  # Aug-ViT shortcuts beside attention and MLP
        n_in = n_out
    return total + heads * dim * classes


def test_count_macs_counts_only_the_kept_work():
    model = FAMILIES["deit_distilled"]()
    keep = [list(range(12)), [0, 1, 2, 5, 9, 11], [0, 1]]
    assert count_macs(model) == _vit_macs([18, 18, 18], 18, heads=2)
    assert count_macs(slim(model, keep)) == _vit_macs([12, 6, 2], 18, heads=2)
    # By hand: embed 16*192*16 = 49152; block 0: 12*256 + 2*18*256 + 2*12*18*16 + 12*256 + 2*12*16*64 = 46848;
    # block 1: 6*256 + 2*12*256 + 2*6*12*16 + 6*256 + 2*6*16*64 = 23808; block 2: 2*256 + 2*6*256 + 2*2*6*16
    # + 2*256 + 2*2*16*64 = 8576; heads 2*16*5 = 160.
    assert count_macs(slim(model, keep)) == 49152 + 46848 + 23808 + 8576 + 160 == 128544
    aug = VisionTransformer(**BASE, augmented_shortcuts="circulant")
    assert count_macs(slim(aug, keep[:1] + [[0, 3], [0]])) == _vit_macs([12, 2, 1], 17, shortcuts=1)


def test_count_macs_of_slimmed_cait_counts_talking_heads_and_class_attention():
    model = CaiT(**BASE, class_attention_depth=1)
    keep = [list(range(0, 16, 2)), [0, 4, 8], [8]]

    def macs(counts):
        dim, heads, total, n_in = 16, 2, 16 * 192 * 16, 16
        for n_out in counts:
            total += _vit_macs([n_out], n_in, classes=0) - 16 * 192 * 16 + 2 * n_out * n_in * heads * heads
            n_in = n_out
        tokens = 1 + n_in  # class attention: one query over [cls, kept patches]
        total += dim * dim + 2 * tokens * dim * dim + 2 * tokens * dim + dim * dim + 2 * dim * 64
        return total + dim * 5

    assert count_macs(model) == macs([16, 16, 16])
    assert count_macs(slim(model, keep)) == macs([8, 3, 1])


BAD_KEEPS = {
    "not nested": ([[0, 1, 2, 3], [0, 2, 5], [0]], r"keep\[1\] \(block 1\) is not a subset of keep\[0\].*\[5\].*Fix"),
    "unsorted": ([[0, 3, 2], [0], [0]], r"keep\[0\] \(block 0\) is not sorted.*3 is followed by 2.*Fix"),
    "repeated": ([[0, 2, 2], [0], [0]], r"keep\[0\] \(block 0\) is not sorted.*Fix"),
    "out of range": ([[0, 1, 17], [0], [0]], r"keep\[0\] \(block 0\) holds token index 17, outside \[0, 17\).*Fix"),
    "negative": ([[-1, 0], [0], [0]], r"keep\[0\] \(block 0\) is not sorted|outside"),
    "no class token": ([[0, 1, 2], [1, 2], [1]], r"keep\[1\] \(block 1\) drops the class token \(index 0\).*Fix"),
    "too few": ([[0, 1], [0]], r"keep has 2 token lists but the model has 3 blocks.*Fix"),
    "too many": ([[0]] * 4, r"keep has 4 token lists but the model has 3 blocks.*Fix"),
    "empty": ([[0], [], []], r"keep\[1\] \(block 1\) is empty.*Fix"),
    "float": ([[0, 1.5], [0], [0]], r"keep\[0\] \(block 0\) holds 1.5, not an int.*Fix"),
    "not a list": ("0,1,2", r"keep must be a list of one sorted token-index list per block.*Fix"),
}


@pytest.mark.parametrize("case", sorted(BAD_KEEPS))
def test_bad_keep_sets_name_the_block_and_the_fix(case):
    keep, message = BAD_KEEPS[case]
    with pytest.raises(ValueError, match=message):
        slim(FAMILIES["deit"](), keep)


def test_distilled_models_must_keep_the_distillation_token():
    with pytest.raises(ValueError, match=r"keep\[2\] \(block 2\) drops the distillation token \(index 1\).*Fix"):
        slim(FAMILIES["deit_distilled"](), [[0, 1, 2], [0, 1], [0]])


def test_cait_sets_are_patch_indices_with_no_class_token():
    model = FAMILIES["cait"]()
    slim(model, [[3, 4], [4], [4]])  # no index is required
    with pytest.raises(ValueError, match=r"keep\[0\] \(block 0\) holds token index 16, outside \[0, 16\).*patches"):
        slim(model, [[15, 16], [15], [15]])


def test_non_vit_models_are_refused_with_the_fix():
    inputs = keras.Input((32, 32, 3))
    other = keras.Model(inputs, keras.layers.Dense(3)(inputs), name="mlp")
    with pytest.raises(ValueError, match=r"slim: model 'mlp' is a Functional, not a ViT-family model.*Fix"):
        slim(other, [[0]])


@pytest.mark.parametrize("axis", [1, 2, 3])
def test_static_token_select_equals_numpy_take(axis):
    from keras_hire.layers.token_select import MAX_CONCAT_INPUTS, StaticTokenSelect, contiguous_runs

    x = np.random.RandomState(axis).normal(size=(2, 30, 31, 32)).astype("float32")
    indices = [0, 2, 3, 4, 9, 8, 8, 1, 20, 21, 22, 5, 7, 11, 13, 17, 19, 23, 29]  # any order, repeats
    assert len(contiguous_runs(indices)) > MAX_CONCAT_INPUTS  # needs a tree of concatenations
    layer = StaticTokenSelect(indices, axis=axis)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), np.take(x, indices, axis=axis))
    assert layer.compute_output_shape(x.shape)[axis] == len(indices)
    restored = StaticTokenSelect.from_config(layer.get_config())
    assert restored.indices == tuple(indices) and restored.axis == axis
    with pytest.raises(ValueError, match="takes index 40 along axis"):
        StaticTokenSelect([40], axis=3)(x)


def test_attention_subclasses_that_ignore_num_queries_are_refused():
    from keras_hire.layers import MultiHeadSelfAttention

    class SquareAttention(MultiHeadSelfAttention):  # overrides call without knowing num_queries
        def call(self, x, training=None):
            return super().call(x, training=training)

    with pytest.raises(ValueError, match="does not handle num_queries=3.*Fix"):
        SquareAttention(dim=16, num_heads=2, num_queries=3)
