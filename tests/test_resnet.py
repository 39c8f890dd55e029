"""ResNet: timm parameter counts and MACs, parity with reduced timm ResNets, features, bad input."""

import numpy as np
import pytest

import keras_hire
from keras_hire.convert import load_pytorch_weights
from keras_hire.models import ResNet
from tests.model_checks import relative_error
from tests.test_vit import TIMM_SOURCES, state_of, timm_reference

# sum(p.numel() for p in timm.create_model(name).parameters()), and MACs at 224 (the papers' 1.8,
# 3.6, 4.1 and 7.8 GFLOPs).
TIMM_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160}
GMACS = {"resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801}
# The reduced timm models of make_timm_fixtures.CASES, as keras_hire configurations.
REDUCED = {
    "resnet18": dict(block="basic", depths=(2, 1, 1, 1), channels=(8, 16, 24, 32),
                     num_classes=5, input_shape=(64, 64, 3)),
    "resnet50": dict(block="bottleneck", depths=(1, 2, 1, 1), channels=(8, 16, 24, 32),
                     num_classes=5, input_shape=(64, 64, 3)),
}


@pytest.mark.parametrize("name", sorted(TIMM_PARAMS))
def test_parameter_counts_and_macs_equal_timm(name):
    model = keras_hire.models.create_model(name)
    assert keras_hire.utils.count_params(model) == TIMM_PARAMS[name]
    assert keras_hire.utils.count_macs(model) / 1e9 == pytest.approx(GMACS[name], abs=1e-3)


@pytest.mark.parametrize("source", TIMM_SOURCES)
@pytest.mark.parametrize("name", sorted(REDUCED))
def test_reduced_resnet_logits_equal_timm(name, source, tmp_path):
    reference = timm_reference(name, source, tmp_path)
    model = ResNet(**REDUCED[name])
    state = state_of(reference)
    assert len(load_pytorch_weights(model, state)) == len(state)  # every timm tensor has its place
    assert relative_error(model.predict(reference["input_nhwc"], verbose=0), reference["logits"]) < 1e-4


def test_parity_fails_when_one_batch_norm_statistic_is_left_at_its_init():
    reference = timm_reference("resnet18", "fixture", None)
    state = state_of(reference)
    state["layer2.0.bn1.running_mean"] = np.zeros_like(state["layer2.0.bn1.running_mean"])
    model = ResNet(**REDUCED["resnet18"])
    load_pytorch_weights(model, state)
    error = relative_error(model.predict(reference["input_nhwc"], verbose=0), reference["logits"])
    assert error > 5e-4  # 5x the parity bound


def test_torchvision_names_load_too_and_a_new_head_can_be_kept():
    # torchvision's resnet state_dict uses the same module names as timm's.
    state = state_of(timm_reference("resnet50", "fixture", None))
    model = ResNet(**{**REDUCED["resnet50"], "num_classes": 3})
    loaded = load_pytorch_weights(model, state, skip=("fc.",))
    assert "fc.weight" not in loaded and "layer2.0.downsample.0.weight" in loaded
    with pytest.raises(ValueError, match="shape mismatch"):
        load_pytorch_weights(model, state)


def test_pyramid_features_have_strides_4_to_32_and_the_stage_widths():
    model = ResNet(**{**REDUCED["resnet50"], "input_shape": (64, 96, 3)})
    assert model.embed_dims == (32, 64, 96, 128)
    features = model.feature_extractor().predict(np.zeros((1, 64, 96, 3), np.float32), verbose=0)
    assert {k: v.shape for k, v in features.items()} == {
        "stage1": (1, 16, 24, 32), "stage2": (1, 8, 12, 64), "stage3": (1, 4, 6, 96), "stage4": (1, 2, 3, 128)}


def test_only_standard_keras_layers_are_used():
    model = ResNet(**REDUCED["resnet18"])
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds == {"InputLayer", "ZeroPadding2D", "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D", "Add",
                     "GlobalAveragePooling2D", "Dense"}


def test_zero_init_last_starts_each_block_as_the_identity():
    model = ResNet(**{**REDUCED["resnet50"], "zero_init_last": True})
    assert not np.any(model.get_layer("layer1.0.bn3").gamma.numpy())
    assert np.all(model.get_layer("layer1.0.bn2").gamma.numpy() == 1)


def test_bad_arguments_raise_errors_that_name_the_value():
    with pytest.raises(ValueError, match="block='wide'"):
        ResNet(block="wide", depths=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet(block="basic", depths=(1, 1, 1), channels=(8, 16, 24, 32))
    with pytest.raises(ValueError, match="at least 32 pixels"):
        ResNet(block="basic", depths=(1, 1, 1, 1), input_shape=(16, 16, 3))
    model = ResNet(**REDUCED["resnet18"])
    with pytest.raises(ValueError, match="3-channel images but received"):
        model(np.zeros((1, 64, 64, 1), np.float32))


def test_an_init_checkpoint_of_another_class_count_leaves_fc_fresh(tmp_path):
    from keras_hire.training import load_initial_weights

    state = state_of(timm_reference("resnet18", "fixture", None))
    path = str(tmp_path / "resnet18.npz")
    np.savez(path, **state)
    model = ResNet(**{**REDUCED["resnet18"], "num_classes": 3})
    fresh = model.get_layer("fc").kernel.numpy().copy()
    assert "classifier left fresh" in load_initial_weights(model, path)
    np.testing.assert_array_equal(model.get_layer("fc").kernel.numpy(), fresh)
