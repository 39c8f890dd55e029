"""Registry-wide checks (timm-style): every registered model keeps its pinned parameter count,
builds, runs, round-trips through .keras, gets a gradient in every trainable weight, exposes
its feature maps and intermediates at the documented strides and shapes, keeps its inference
graph at most 4-D, gives the same outputs on the JAX backend and exports to a builtins-only
batch-1 TFLite file that matches Keras.

Every registered model keeps its count (here or in its family's tests, which build every full-size
variant). The other checks take one model per structure: variants whose registered configurations
differ only in sizes (widths, depths, heads, MLP ratios, input size, dropout) run the same code, so
the smallest of them stands for the rest; any other difference (block kind, shortcut mode, a
distillation token, regions, ...) makes its own structure. Each runs at a small non-square input
with one or two blocks per stage, built once and shared by the tests (none changes a weight). The
JAX and TFLite checks run all selected models in one child process each; full-depth exports are
exercised by benchmarks/."""

import functools

import keras
import numpy as np
import pytest

import keras_hire
from tests import model_checks
from tests.model_checks import relative_error

# Trainable parameters at the default input size and 1000 classes, equal to the official
# implementations' `sum(p.numel() for p in model.parameters())`.
PINNED_PARAMS = {
    "hire_mlp_tiny": 18_041_672,
    "hire_mlp_small": 33_113_848,
    "hire_mlp_base": 58_226_856,
    "hire_mlp_large": 95_723_944,
    "cmt_tiny": 9_492_426,
    "cmt_xs": 15_247_208,
    "cmt_small": 26_256_160,
    "cmt_base": 45_715_076,
    "deit_tiny": 5_717_416,
    "deit_small": 22_050_664,
    "deit_base": 86_567_656,
    "deit_tiny_distilled": 5_910_800,
    "deit_small_distilled": 22_436_432,
    "deit_base_distilled": 87_338_192,
    "vit_base_patch16": 86_567_656,
    "cait_s24": 46_916_200,
    "aug_vit_small": 22_142_824,
    "aug_vit_base": 86_751_976,
    "fedpu_cnn_mnist": 18_158,  # FedPU-torch modules/model.py
    "fedpu_resnet9": 6_575_370,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "ghostnet_050": 2_587_292,  # timm ghostnet_050/100/130
    "ghostnet_100": 5_182_508,
    "ghostnet_130": 7_358_820,
    "s_ghostnet_b1": 11_938_476,  # no published count: big_net.py's rules, counted here
    "s_ghostnet_b4": 31_986_130,
    "cifar_resnet18": 11_173_962,  # 10 classes: kuangliu/pytorch-cifar ResNet18 (TRADES, RobustBench)
    "cifar_wrn34_10": 46_160_474,  # 10 classes: Madry/TRADES WideResNet(depth=34, widen_factor=10)
    "digits_cnn": 70_330,  # keras_hire's own digits backbones (10 classes)
    "digits_cnn_wide": 153_786,
    "nadar_hybrid_digits": 79_370,  # digits_cnn + the default two-node cell per block
}

# Per family (registry-name prefix): the input (height, width), not square so that a swapped axis
# shows, and the overrides that leave one block per stage. Hire-MLP keeps a second block in stages 1
# and 3, whose cross-region shifts (steps 2 and 1) a first block does not have.
SMALL_CONFIGS = {
    "hire_mlp_": ((32, 64), dict(depths=(2, 1, 2, 1))),
    "cmt_": ((64, 96), dict(depths=(1, 1, 1, 1))),
    "deit_": ((32, 48), dict(depth=1)),
    "vit_": ((32, 48), dict(depth=1)),
    "aug_vit_": ((32, 48), dict(depth=1)),
    "cait_": ((32, 48), dict(depth=1, class_attention_depth=1)),
    "fedpu_cnn_mnist": ((32, 40), {}),
    "fedpu_resnet9": ((32, 40), dict(widths=(8, 16, 24, 32))),
    "resnet": ((32, 64), dict(depths=(1, 1, 1, 1), channels=(8, 16, 24, 32), stem_width=8)),
    "ghostnet_": ((32, 64), dict(stage_depths=(1, 1, 1, 1, 1, 1))),
    "s_ghostnet_": ((32, 64), dict(stage_depths=(1, 1, 1, 1, 1, 1))),
    "cifar_": ((32, 40), dict(depths=(1, 1, 1), widths=(8, 16, 24), strides=(1, 2, 2), stem_width=8)),
    "digits_cnn": ((28, 36), dict(widths=(8, 16), stem_width=8)),
    "nadar_hybrid": ((28, 36), dict(widths=(8, 16), stem_width=8)),
}
PYRAMID_STRIDES = (4, 8, 16, 32)  # stage1..stage4 of the pyramid families

ALL_MODELS = keras_hire.models.list_models()

# Configuration keys that change sizes, not code paths (see the module docstring).
SIZE_KEYS = frozenset({"embed_dim", "embed_dims", "depth", "depths", "num_heads", "mlp_ratios", "widths",
                       "width", "stem_width", "stem_channels", "stage_channels", "stage_depths", "input_shape",
                       "dropout"})


def _structure(name):
    """A variant's family and its registered configuration without the size keys."""
    config = keras_hire.models.variant_config(name)
    return keras_hire.models.model_info(name).family, sorted((k, repr(v)) for k, v in config.items()
                                                              if k not in SIZE_KEYS)


def _one_model_per_structure():
    """The smallest registered model (by pinned count) of each structure."""
    chosen = {}
    for name in sorted(ALL_MODELS, key=lambda n: PINNED_PARAMS[n]):
        chosen.setdefault(repr(_structure(name)), name)
    return sorted(chosen.values())


STRUCTURES = _one_model_per_structure()


def _small_arguments(name):
    configs = [config for prefix, config in SMALL_CONFIGS.items() if name.startswith(prefix)]
    assert configs, f"add the family of '{name}' to SMALL_CONFIGS in tests/test_registry.py"
    (height, width), shallow = configs[0]
    return dict(num_classes=10, input_shape=(height, width, 3), **shallow)


@functools.lru_cache(maxsize=None)
def _small_model(name):
    """`(model, inputs, outputs)` at the small configuration, built once per session."""
    keras.utils.set_random_seed(0)
    arguments = _small_arguments(name)
    model = keras_hire.models.create_model(name, **arguments)
    height, width, _ = arguments["input_shape"]
    inputs = np.random.RandomState(0).rand(2, height, width, 3).astype(np.float32)
    return model, inputs, model.predict(inputs, verbose=0)


def _selected(request, test_name):
    """The models of the collected `test_name` items: a `-k` selection runs only those in the child."""
    # Other files have tests of the same name (the layer harness): only this module's items count.
    return sorted({item.callspec.params["name"] for item in request.session.items
                   if getattr(item, "originalname", None) == test_name and hasattr(item, "callspec")
                   and getattr(item, "module", None) is request.module})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """`(directory, save)`: `save(name)` writes the small model's files for the child processes, once."""
    directory = str(tmp_path_factory.mktemp("registry"))

    @functools.lru_cache(maxsize=None)
    def save(name):
        model, inputs, _ = _small_model(name)
        return model_checks.save_for_children(model, inputs, directory, name)

    return directory, save


@pytest.fixture(scope="module")
def tflite_results(request, saved):
    directory, save = saved
    names = _selected(request, "test_exports_to_builtins_only_tflite_matching_keras")
    return model_checks.many_tflite_outputs({n: (save(n)["keras"], save(n)["npz"]) for n in names}, directory)


@pytest.fixture(scope="module")
def jax_results(request, saved):
    pytest.importorskip("jax")
    directory, save = saved
    names = _selected(request, "test_jax_backend_gives_the_same_outputs")
    jobs = {n: (f"keras_hire.models.create_model({n!r}, **{_small_arguments(n)!r})", save(n)["weights.h5"],
                save(n)["npz"]) for n in names}
    return model_checks.many_jax_outputs(jobs, directory)


def test_every_registered_model_has_a_pinned_parameter_count():
    assert sorted(PINNED_PARAMS) == ALL_MODELS


# These families' own tests build every full-size variant and assert the same counts (and MACs):
# building each a second time here would only cost CI time.
COUNTED_BY_FAMILY_TESTS = ("cmt_", "hire_mlp_", "resnet", "aug_vit_", "cait_")  # tests/test_<family>.py


def test_one_model_per_structure_covers_distinct_code_paths():
    # The size-only variants fold together; block kinds, distillation tokens and shortcut modes do not.
    assert {"hire_mlp_tiny", "cmt_tiny", "deit_tiny", "deit_tiny_distilled", "aug_vit_small", "resnet18", "resnet50",
            "cifar_resnet18", "cifar_wrn34_10", "ghostnet_050", "s_ghostnet_b1", "digits_cnn"} <= set(STRUCTURES)
    assert not {"hire_mlp_large", "deit_base", "vit_base_patch16", "resnet101", "digits_cnn_wide"} & set(STRUCTURES)
    assert _structure("resnet18") != _structure("resnet50") and _structure("deit_tiny") == _structure("deit_base")


def test_variant_config_is_the_registered_arguments():
    config = keras_hire.models.variant_config("deit_tiny")
    assert config == {"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3}
    config["depth"] = 1  # a copy: the registry keeps its own
    assert keras_hire.models.variant_config("deit_tiny")["depth"] == 12
    with pytest.raises(ValueError, match="Unknown model name 'deit_tiyn'.*'deit_tiny'"):
        keras_hire.models.variant_config("deit_tiyn")


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if not n.startswith(COUNTED_BY_FAMILY_TESTS)])
def test_pinned_parameter_count(name):
    assert keras_hire.utils.count_params(keras_hire.models.create_model(name)) == PINNED_PARAMS[name]


@pytest.mark.parametrize("name", STRUCTURES)
def test_builds_runs_and_round_trips_at_a_small_input(name, tmp_path):
    model, inputs, outputs = _small_model(name)
    assert outputs.shape == (2, 10) and np.all(np.isfinite(outputs))
    model_checks.assert_keras_roundtrip(model, inputs, str(tmp_path))


@pytest.mark.parametrize("name", STRUCTURES)
def test_every_trainable_weight_gets_a_finite_nonzero_gradient(name):
    model, inputs, _ = _small_model(name)
    assert model_checks.weights_without_gradient(model, inputs) == []


def test_the_gradient_check_names_unused_and_cut_off_weights():
    @keras.saving.register_keras_serializable(package="keras_hire_tests")
    class Spare(keras.layers.Layer):  # a weight that call() never reads
        def build(self, input_shape):
            self.spare = self.add_weight(shape=(3,), name="spare")

        def call(self, x):
            return x

    inputs = keras.Input((4,))
    cut_off = keras.layers.Dense(4, name="cut_off")(inputs)
    frozen = keras.layers.Dense(4, name="frozen", trainable=False)
    x = Spare(name="unused")(frozen(keras.layers.Dense(4, name="used")(inputs)))
    model = keras.Model(inputs, x + 0.0 * cut_off)
    missing = model_checks.weights_without_gradient(model, np.ones((2, 4), np.float32))
    assert sorted(missing) == ["cut_off/bias", "cut_off/kernel", "unused/spare"]  # frozen: not trainable


@pytest.mark.parametrize("name", STRUCTURES)
def test_feature_maps_and_block_tokens_have_the_documented_shapes(name):
    model, inputs, outputs = _small_model(name)
    batch, height, width, _ = inputs.shape
    features = {key: keras.ops.convert_to_numpy(v) for key, v in model.feature_extractor()(inputs).items()}
    if hasattr(model, "stage_shapes"):  # small CNNs with their own stage grid (FedPU's CNNMnist, ResNet9)
        assert {key: f.shape for key, f in features.items()} == {
            key: (batch, *shape) for key, shape in model.stage_shapes().items()}
        return
    if not hasattr(model, "intermediate_model"):  # a pyramid: four stages at strides 4 to 32
        expected = {f"stage{i + 1}": (batch, height // stride, width // stride, model.embed_dims[i])
                    for i, stride in enumerate(PYRAMID_STRIDES)}
        assert {key: f.shape for key, f in features.items()} == expected
        return
    # Token families: every block's tokens, its attention, and its patch tokens as a stride-patch map.
    grid = (height // model.patch_size, width // model.patch_size)
    patches, prefix = grid[0] * grid[1], model.num_prefix_tokens
    expected = {f"block_{i}": (batch, *grid, model.embed_dim) for i in range(model.depth)}
    assert {key: f.shape for key, f in features.items()} == expected
    taps = {key: keras.ops.convert_to_numpy(v) for key, v in model.intermediate_model()(inputs).items()}
    for i in range(model.depth):
        tokens = taps[f"block_{i}"]
        assert tokens.shape == (batch, prefix + patches, model.embed_dim)
        assert taps[f"attn_{i}"].shape == (batch, model.num_heads, prefix + patches, prefix + patches)
        np.testing.assert_array_equal(features[f"block_{i}"].reshape(batch, patches, -1), tokens[:, prefix:])
    np.testing.assert_allclose(taps["logits"], outputs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", STRUCTURES)
def test_inference_graph_has_at_most_4d_tensors(name):
    model, inputs, _ = _small_model(name)
    assert model_checks.ops_above_rank(model, inputs.shape[1:]) == {}


def test_the_rank_check_sees_a_5d_tensor():
    inputs = keras.Input((4, 4, 6))
    x = keras.layers.Reshape((4, 4, 2, 3))(inputs)  # the official qkv layout's kind of reshape
    model = keras.Model(inputs, keras.layers.Reshape((4, 4, 6))(x))
    assert model_checks.ops_above_rank(model, (4, 4, 6)) == {"Reshape": 5}


@pytest.mark.parametrize("name", STRUCTURES)
def test_jax_backend_gives_the_same_outputs(name, jax_results):
    result = jax_results[name]
    assert not isinstance(result, str), result
    assert relative_error(result, _small_model(name)[2]) < 1e-4


@pytest.mark.parametrize("name", STRUCTURES)
def test_exports_to_builtins_only_tflite_matching_keras(name, tflite_results):
    result = tflite_results[name]
    assert not isinstance(result, str), result
    outputs, ops = result
    model_checks.assert_builtin_ops(ops)
    assert relative_error(outputs, _small_model(name)[2]) < 1e-4
