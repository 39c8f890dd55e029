"""Aug-ViT: official counts and MACs, the block-circulant layer, fixture parity, modes, export."""

import os

import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights, model_targets
from keras_hire.layers import BlockCirculantDense, circulant_index
from keras_hire.models import VisionTransformer
from tests.conftest import FIXTURES
from tests.model_checks import relative_error

FIXTURE = os.path.join(FIXTURES, "augvit_official_small_config.npz")
# The fixture's official configuration: augvit circulant2, img 32, patch 8, dim 24, depth 2, heads 3, 7 classes.
FIXTURE_CONFIG = dict(patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=7, input_shape=(32, 32, 3),
                      augmented_shortcuts="circulant2")


def _official_index(dim, num_blocks):
    """The official `index_matrix`, built as augvit.py builds it (scipy's circulant per block)."""
    linalg = pytest.importorskip("scipy.linalg")
    block = dim // num_blocks
    base = linalg.circulant(np.arange(block))
    rows = [np.concatenate([base + (p * num_blocks + q) * block for q in range(num_blocks)], 1)
            for p in range(num_blocks)]
    return np.concatenate(rows, 0)


@pytest.mark.parametrize("name, expected", [
    ("aug_vit_small", 22_142_824),  # DeiT-S 22,050,664 + 12 blocks x 4 x (16 * 96 + 384)
    ("aug_vit_base", 86_751_976),  # DeiT-B 86,567,656 + 12 blocks x 4 x (16 * 192 + 768)
])
def test_parameter_counts_equal_the_official_ones(name, expected):
    model = keras_hire.models.create_model(name)
    assert keras_hire.utils.count_params(model) == expected
    if name == "aug_vit_small":
        # The official code materialises dense kernels: 4 d x d matmuls per block over DeiT-S.
        assert keras_hire.utils.count_macs(model) == 4_598_882_304 + 4 * 197 * 384 * 384 * 12


def test_block_circulant_layer_materialises_the_official_kernel():
    assert np.array_equal(circulant_index(24, 24, 4), _official_index(24, 4))
    assert np.array_equal(circulant_index(384, 384, 4), _official_index(384, 4))
    layer = BlockCirculantDense(24)
    x = np.random.RandomState(0).randn(2, 5, 24).astype(np.float32)
    y = layer(x)
    assert len(layer.trainable_weights) == 2 and layer.weight_list.shape == (96,)
    weight = layer.weight_list.numpy()[_official_index(24, 4)]  # official (out, in) weight
    np.testing.assert_allclose(y, x @ weight.T + layer.bias.numpy(), rtol=1e-5, atol=1e-6)
    # Official init: U(+-1/sqrt(in_features)) for both weights and bias.
    assert np.abs(layer.weight_list.numpy()).max() <= 24 ** -0.5
    # In != out: more blocks along the longer side, as the official code.
    wide = BlockCirculantDense(48)
    wide.build((None, 24))
    assert wide.weight_list.shape == (8 * 4 * 6,) and circulant_index(24, 48).shape == (48, 24)


def test_block_circulant_layer_rejects_bad_widths():
    with pytest.raises(ValueError, match="units=10"):
        BlockCirculantDense(10, num_blocks=4)
    with pytest.raises(ValueError, match="width 20"):
        BlockCirculantDense(24, num_blocks=4).build((None, 20))


def test_logits_equal_the_official_model_on_the_fixture():
    model = VisionTransformer(**FIXTURE_CONFIG)
    loaded = load_pytorch_weights(model, FIXTURE)
    with np.load(FIXTURE) as data:
        assert len(loaded) == len([k for k in data.files if k.startswith("state/")])
        assert relative_error(model.predict(data["input_nhwc"], verbose=0), data["logits"]) < 1e-4


def test_a_wrong_circulant_index_in_the_checkpoint_is_refused():
    model = VisionTransformer(**FIXTURE_CONFIG)
    with np.load(FIXTURE) as data:
        state = {k[len("state/"):]: data[k] for k in data.files if k.startswith("state/")}
    state["blocks.0.augs.0.index_matrix"] = state["blocks.0.augs.0.index_matrix"].T
    with pytest.raises(ValueError, match="blocks.0.augs.0.index_matrix"):
        load_pytorch_weights(model, state)


@pytest.mark.parametrize("mode, names, extra", [
    (None, [], 0),
    ("linear", ["augs_attn.weight", "augs.bias"], 2 * (24 * 24 + 24)),
    ("circulant", ["augs_attn.weight_list", "augs.index_matrix"], 2 * (4 * 24 + 24)),
    ("linear2", ["augs_attn.0.weight", "augs2.0.bias"], 4 * (24 * 24 + 24)),
    ("circulant2", ["augs_attn2.0.weight_list", "augs.0.index_matrix"], 4 * (4 * 24 + 24)),
])
def test_modes_have_the_official_names_and_parameter_counts(mode, names, extra):
    plain = keras_hire.utils.count_params(VisionTransformer(**{**FIXTURE_CONFIG, "augmented_shortcuts": None}))
    model = VisionTransformer(**{**FIXTURE_CONFIG, "augmented_shortcuts": mode})
    assert keras_hire.utils.count_params(model) == plain + 2 * extra
    targets = model_targets(model)
    assert all(f"blocks.1.{name}" in targets for name in names)
    scale = model.get_layer("blocks.0.add2").scale
    assert scale == (0.75 if mode in ("linear2", "circulant2") else 1.0)


def test_aug_vit_variants_use_circulant2_and_accept_overrides():
    model = keras_hire.models.create_model("aug_vit_small", depth=1, input_shape=(32, 32, 3), num_classes=3)
    assert model.augmented_shortcuts == "circulant2" and model.embed_dim == 384
    assert model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="num_circulant_blocks=5"):
        VisionTransformer(**FIXTURE_CONFIG, num_circulant_blocks=5)


def _numpy_forward(model, images, mode):
    """The official augvit.py forward (Block.forward per mode), in float64 numpy, from the model's weights."""
    from math import erf

    gelu_erf = np.vectorize(erf)

    def get(name, attr="kernel"):
        return np.asarray(getattr(model.get_layer(name), attr).numpy(), np.float64)

    def gelu(t):
        return 0.5 * t * (1.0 + gelu_erf(t / np.sqrt(2.0)))

    def layer_norm(t, name):
        mean, var = t.mean(-1, keepdims=True), t.var(-1, keepdims=True)
        return (t - mean) / np.sqrt(var + 1e-6) * get(name, "gamma") + get(name, "beta")

    def linear(t, name):
        layer = model.get_layer(name)
        if hasattr(layer, "weight_list"):  # official Circulant_Linear: weight_list[index_matrix], (out, in)
            kernel = layer.weight_list.numpy()[_official_index(t.shape[-1], 4)].T
        else:
            kernel = layer.kernel.numpy()
        return t @ kernel + layer.bias.numpy()

    def mlp(t, block):
        return linear(gelu(linear(t, f"{block}.mlp.fc1")), f"{block}.mlp.fc2")

    def softmax(t):
        t = np.exp(t - t.max(-1, keepdims=True))
        return t / t.sum(-1, keepdims=True)

    batch, patch, dim, heads = images.shape[0], 8, 24, 3
    grid = images.shape[1] // patch
    patches = images.reshape(batch, grid, patch, grid, patch, 3).transpose(0, 1, 3, 2, 4, 5)
    kernel = get("patch_embed.proj")  # (patch, patch, 3, dim)
    tokens = np.einsum("bhwijc,ijcd->bhwd", patches, kernel).reshape(batch, -1, dim) + get("patch_embed.proj", "bias")
    cls = model.get_layer("cls_token").weights[0].numpy().reshape(1, 1, dim)
    x = np.concatenate([np.repeat(cls, batch, 0), tokens], 1) + model.get_layer("pos_embed").weights[0].numpy()
    for i in range(2):
        name = f"blocks.{i}"
        x1 = layer_norm(x, f"{name}.norm1")
        attention = model.get_layer(f"{name}.attn")

        def project(t, dense):
            return t @ dense.kernel.numpy() + dense.bias.numpy()

        def split(t):
            return t.reshape(batch, -1, heads, dim // heads).transpose(0, 2, 1, 3)

        q, k, v = (split(project(x1, dense)) for dense in (attention.q, attention.k, attention.v))
        weights = softmax(q @ k.transpose(0, 1, 3, 2) * (dim // heads) ** -0.5)
        y = project((weights @ v).transpose(0, 2, 1, 3).reshape(batch, -1, dim), attention.proj)
        if mode in ("linear", "circulant"):
            x = x + y + linear(x1, f"{name}.augs_attn")
            x2 = layer_norm(x, f"{name}.norm2")
            x = x + mlp(x2, name) + linear(x2, f"{name}.augs")
        else:
            x = (x + y + gelu(linear(x1, f"{name}.augs_attn.0")) + gelu(linear(x1, f"{name}.augs_attn2.0"))) * 0.75
            x2 = layer_norm(x, f"{name}.norm2")
            x = (x + mlp(x2, name) + gelu(linear(x2, f"{name}.augs.0")) + gelu(linear(x2, f"{name}.augs2.0"))) * 0.75
    return layer_norm(x, "norm")[:, 0] @ get("head") + get("head", "bias")


@pytest.mark.parametrize("mode", ["linear", "circulant", "linear2", "circulant2"])
def test_every_mode_equals_the_official_block_computation(mode):
    model = VisionTransformer(**{**FIXTURE_CONFIG, "augmented_shortcuts": mode})
    rng = np.random.default_rng(7)
    for variable in model.weights:  # large enough that every GELU and shortcut matters
        variable.assign(0.3 * rng.standard_normal(variable.shape).astype(np.float32))
    images = rng.standard_normal((2, 32, 32, 3)).astype(np.float32)
    expected = _numpy_forward(model, images.astype(np.float64), mode)
    assert relative_error(model.predict(images, verbose=0), expected) < 1e-4
