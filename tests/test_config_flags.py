"""keras_hire.utils.config and .flags: validation messages, dict/JSON round trips, flags from configs."""

import dataclasses
import json
from typing import Optional, Tuple

import pytest
from absl import app, flags

from keras_hire.data import AugmentConfig
from keras_hire.training import TrainConfig
from keras_hire.utils.config import Config, ConfigError, config_field
from keras_hire.utils.flags import config_from_flags, define_config_flags, flag_paths


@dataclasses.dataclass
class _Inner(Config):
    ratio: float = config_field(0.5, help="A ratio.", min=0.0, max=1.0)


@dataclasses.dataclass
class _Method(Config):
    """A method config as the method issues nest them: its own fields plus the whole TrainConfig."""

    train: TrainConfig = config_field(default_factory=TrainConfig, help="Training.")
    alpha: float = config_field(0.5, help="Weight of the method's loss.", min=0.0, max=1.0)
    layers: Tuple[int, ...] = config_field((3, 7), help="Layer indices.", min=0)
    mode: str = config_field("soft", help="Soft or hard.", choices=("soft", "hard"))
    inner: _Inner = config_field(default_factory=_Inner, help="Nested twice.")
    note: Optional[str] = config_field(None, help="Free text.")


def _parse(config_cls, argv):
    values = flags.FlagValues()
    define_config_flags(config_cls, values)
    values(["prog", *argv])
    return config_from_flags(config_cls, values), values


@pytest.mark.parametrize("changes, message", [
    (dict(learning_rate=-1e-3), r"TrainConfig.learning_rate=-0.001: must be > 0.0. Fix: use a value > 0.0"),
    (dict(label_smoothing=1.5), r"TrainConfig.label_smoothing=1.5: must be < 1.0"),
    (dict(batch_size=2.5), r"TrainConfig.batch_size=2.5: expected a whole number"),
    (dict(epochs=0), r"TrainConfig.epochs=0: must be >= 1"),
    (dict(strategy="mirored"),
     r"TrainConfig.strategy=.mirored.: .mirored. is not one of .* \(did you mean 'mirrored'\?\)"),
    (dict(mixed_precision="fp8"), r"TrainConfig.mixed_precision=.fp8.: .fp8. is not one of 'none', 'mixed_float16'"),
    (dict(image_size=0), r"TrainConfig.image_size=0: must be >= 1"),
    (dict(channels=4), r"TrainConfig.channels=4: 4 is not one of 1, 3"),
    (dict(augment=dict(flip="yes")), r"AugmentConfig.flip='yes': expected true or false"),
    (dict(flip=True), r"no field 'flip' \(it is augment.flip: pass \{'augment': \{'flip': ...\}\}\)"),
    (dict(augment=dict(mixup=-1.0)), r"AugmentConfig.mixup=-1.0: must be >= 0.0"),
    (dict(dataset="folder"), r"TrainConfig.data_dir=None: dataset='folder' needs the image-folder root. "
                             r"Fix: set --data_dir"),
    (dict(learning_rate=1e-6, min_learning_rate=1e-5), r"min_learning_rate=1e-05: above the peak"),
])
def test_bad_values_name_the_field_the_value_and_the_fix(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(changes)


def test_unknown_fields_name_the_closest_valid_ones():
    with pytest.raises(ConfigError, match=r"no field 'epoch' \(did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"AugmentConfig has no field 'mix_up' \(did you mean 'mixup'"):
        TrainConfig.from_dict({"augment": {"mix_up": 0.8}})


def test_dict_and_json_round_trips_keep_nested_configs(tmp_path):
    config = TrainConfig(epochs=3, augment=AugmentConfig.imagenet(), model_kwargs={"depths": [1, 1, 1, 1]})
    assert TrainConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "run.json"
    path.write_text(config.to_json())
    assert TrainConfig.from_json(str(path)) == config
    assert TrainConfig.from_dict({"learning_rate": 1}).learning_rate == 1.0  # ints become floats
    with pytest.raises(ConfigError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        TrainConfig.from_json(str(tmp_path / "bad.json"))


def test_every_leaf_field_is_a_flag_with_its_help_and_the_drifted_ones_exist():
    paths = flag_paths(TrainConfig)
    assert paths["mixup"][0] == ("augment", "mixup")
    assert {"randaugment_magnitude", "eval_crop_fraction", "model_kwargs", "verbose"} <= set(paths)
    values = flags.FlagValues()
    define_config_flags(TrainConfig, values)
    assert values["label_smoothing"].help == "Label smoothing of the cross-entropy."
    assert values["strategy"].parser.enum_values == ["auto", "one_device", "mirrored", "multi_worker", "tpu"]
    assert values["randaugment_magnitude"].default == 0.9


def test_flags_build_the_config_and_override_a_config_file(tmp_path):
    argv = ["--epochs=3", "--mixup=0.8", "--noflip", '--model_kwargs={"depths": [1, 1, 1, 1]}']
    config, _ = _parse(TrainConfig, argv)
    assert config == TrainConfig(epochs=3, augment=AugmentConfig(mixup=0.8), model_kwargs={"depths": [1, 1, 1, 1]})
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"epochs": 7, "batch_size": 16, "augment": {"cutmix": 1.0}}))
    config, _ = _parse(TrainConfig, [f"--config={path}", "--batch_size=8"])
    assert (config.epochs, config.batch_size, config.augment.cutmix) == (7, 8, 1.0)


def test_method_configs_nest_train_config_with_the_same_flags():
    config, values = _parse(_Method, ["--epochs=2", "--alpha=0.1", "--layers=1,2,3", "--mode=hard", "--ratio=0.2"])
    assert config.train.epochs == 2 and config.alpha == 0.1 and config.layers == (1, 2, 3)
    assert config.mode == "hard" and config.inner.ratio == 0.2 and config.note is None
    assert set(flag_paths(TrainConfig)) < set(flag_paths(_Method))


@pytest.mark.parametrize("argv, message", [
    (["--alpha=2"], r"_Method.alpha=2.0: must be <= 1.0"),
    (["--layers=1,x"], r"--layers=1,x: every item must be a int"),
    (["--layers=-1"], r"_Method.layers=\[-1\]: must be >= 0"),
    (["--model_kwargs={"], r"--model_kwargs='\{' is not valid JSON"),
])
def test_bad_flags_are_usage_errors_naming_the_flag(argv, message):
    with pytest.raises(app.UsageError, match=message):
        _parse(_Method, argv)


def test_clashing_flag_names_are_refused_when_defined():
    @dataclasses.dataclass
    class Clash(Config):
        train: TrainConfig = config_field(default_factory=TrainConfig, help="Training.")
        epochs: int = config_field(1, help="Clashes with train.epochs.")

    with pytest.raises(ValueError, match=r"fields epochs and train.epochs would both be --epochs"):
        define_config_flags(Clash, flags.FlagValues())
