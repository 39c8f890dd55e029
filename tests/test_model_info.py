"""The registry's `ModelInfo` and argument checks: every model says what it is and refuses typos."""

import pytest

import keras_hire
from keras_hire.models import ModelInfo, create_model, list_models, model_info
from keras_hire.training import TrainConfig
from keras_hire.training.run_data import prepare_data

# (paper, crop fraction, official checkpoint) of some variants, from PAPERS.md and timm's configs.
EXPECTED = {
    "hire_mlp_small": ("2108.13341", 0.9, "hire_mlp_small.pth"),
    "hire_mlp_large": ("2108.13341", 0.9, None),  # no released checkpoint
    "cmt_tiny": ("2107.06263", 0.875, "cmt_tiny.pth"),
    "deit_tiny": ("2012.12877", 0.875, "deit_tiny_patch16_224.fb_in1k"),
    "vit_base_patch16": ("2010.11929", 0.9, "vit_base_patch16_224.augreg2_in21k_ft_in1k"),
    "cait_s24": ("2103.17239", 1.0, "cait_s24_224.fb_dist_in1k"),
    "aug_vit_small": ("2106.15941", 0.875, None),
}


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_info_matching_what_it_builds(name):
    info = model_info(name)
    assert isinstance(info, ModelInfo) and info.name == name and len(info.paper.split(".")) == 2
    builder = getattr(keras_hire.models, info.family)
    assert builder.__name__ == info.family
    assert 0 < info.crop_fraction <= 1 and len(info.mean) == len(info.std) in (1, 3)  # grey models: one channel
    assert info.input_size[0] % info.input_divisor == 0


@pytest.mark.parametrize("name", ["hire_mlp_tiny", "cmt_tiny", "deit_tiny", "cait_s24"])
def test_default_input_size_is_the_built_one_and_the_model_carries_its_info(name):
    model = create_model(name)
    assert tuple(model.inputs[0].shape[1:3]) == model_info(name).input_size
    assert model.model_info == model_info(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_crop_and_checkpoint(name):
    info = model_info(name)
    assert (info.paper, info.crop_fraction, info.checkpoint) == EXPECTED[name]


def test_variant_builders_are_named_and_documented():
    assert keras_hire.models.CMTXS.__name__ == "CMTXS"
    doc = keras_hire.models.CMTXS.__doc__
    assert "arXiv 2107.06263" in doc and "depths=(3, 3, 12, 3)" in doc


@pytest.mark.parametrize("name, typo, closest", [
    ("cmt_tiny", "num_clases", "num_classes"),
    ("hire_mlp_tiny", "dpeths", "depths"),
    ("deit_tiny", "embed_dims", "embed_dim"),
])
def test_misspelled_arguments_raise_naming_the_closest(name, typo, closest):
    with pytest.raises(TypeError, match=rf"{name}: unknown argument '{typo}' \(did you mean '{closest}'"):
        create_model(name, **{typo: 1})


def test_unknown_names_raise_with_suggestions():
    with pytest.raises(ValueError, match=r"Did you mean 'cmt_tiny'"):
        model_info("cmt_tiny_")


def test_the_evaluation_transform_takes_the_models_crop_unless_the_config_sets_one():
    assert prepare_data(TrainConfig(model="vit_base_patch16")).crop_fraction == 0.9
    assert prepare_data(TrainConfig(model="cait_s24")).crop_fraction == 1.0
    assert prepare_data(TrainConfig(model="cait_s24", eval_crop_fraction=0.8)).crop_fraction == 0.8
