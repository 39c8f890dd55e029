"""Name -> builder registry, timm-style, with each model's `ModelInfo`.

```python
model = keras_hire.models.create_model("hire_mlp_small", num_classes=10)
keras_hire.models.model_info("hire_mlp_small").crop_fraction   # 0.9, the official eval crop
```
"""

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Optional, Tuple

from keras_hire.utils.image_stats import IMAGENET_MEAN, IMAGENET_STD


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a registered model is and what its official weights expect.

    Attributes:
        name: the registry name.
        family: the generic class, e.g. `"HireMLP"`.
        paper: arXiv id of the paper that defines the architecture.
        input_size: default `(height, width)`.
        crop_fraction: the evaluation transform's center-crop fraction (timm's `crop_pct`).
        mean, std: per-channel input normalisation of the official weights, on the 0-255 scale.
        checkpoint: the official checkpoint (file or timm name), or `None` when none is published.
        fixed_input_size: `True` when the architecture takes only `input_size`; `False` when it
            takes any size it allows (see `input_divisor`).
        input_divisor: height and width must be multiples of it.
    """

    name: str
    family: str
    paper: str
    input_size: Tuple[int, int] = (224, 224)
    crop_fraction: float = 0.875
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD
    checkpoint: Optional[str] = None
    fixed_input_size: bool = False
    input_divisor: int = 1


_MODELS = {}
_INFOS = {}
_CONFIGS = {}  # name -> the constructor arguments a variant was registered with


def register_model(name, info=None):
    """Registers a builder under `name` (a decorator); the builder takes keyword overrides only."""

    def decorator(builder):
        if name in _MODELS:
            raise ValueError(f"Model name '{name}' is already registered.")
        _MODELS[name] = builder
        _INFOS[name] = info or ModelInfo(name=name, family=builder.__name__, paper="")
        return builder

    return decorator


def register_variant(family, name, class_name, config, info):
    """Registers `family(**config)` as `name` and returns its builder, named `class_name`.

    Args:
        family: the generic model class (e.g. `HireMLP`).
        name: the registry name, e.g. `"hire_mlp_small"`.
        class_name: the builder's public name, e.g. `"HireMLPSmall"`.
        config: the constructor arguments of the variant.
        info: the variant's `ModelInfo` without `name`, `family` and `input_size` (filled here;
            `input_size` comes from `config["input_shape"]` when the config has one).
    """
    size = tuple(config.get("input_shape", info.input_size + (3,))[:2])
    info = dataclasses.replace(info, name=name, family=family.__name__, input_size=size)

    def builder(**kwargs):
        return family(**{**config, "name": name, **check_arguments(family, kwargs, name)})

    builder.__name__ = builder.__qualname__ = class_name
    builder.__doc__ = (
        f"{class_name}: the `{name}` configuration of `{family.__name__}` (arXiv {info.paper}): "
        f"{', '.join(f'{key}={value}' for key, value in config.items())}. Keyword arguments override any "
        f"`{family.__name__}` argument."
    )
    register_model(name, info)(builder)
    _CONFIGS[name] = dict(config)
    return builder


def family_info(paper, **fields):
    """A family's shared `ModelInfo` fields; `register_variant` fills the name, class and size."""
    return ModelInfo(name="", family="", paper=paper, **fields)


def check_arguments(family, kwargs, name):
    """`kwargs` if every key is a constructor argument of `family`; else an error naming the closest."""
    parameters = inspect.signature(family.__init__).parameters.values()
    valid = {p.name for p in parameters if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        valid |= {"name", "dtype", "trainable"}  # what keras.Model takes besides
    valid = sorted(valid)
    unknown = [key for key in kwargs if key not in valid]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, 3)
            hints.append(f"{key!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
        raise TypeError(f"{name}: unknown argument {', '.join(hints)} of {family.__name__}. "
                        f"Valid arguments: {', '.join(valid)}.")
    return kwargs


def list_models(pattern=None):
    """Sorted registered names, optionally filtered by a substring or `fnmatch` pattern."""
    names = sorted(_MODELS)
    if pattern is None:
        return names
    if any(ch in pattern for ch in "*?["):
        return [n for n in names if fnmatch.fnmatch(n, pattern)]
    return [n for n in names if pattern in n]


def _known(name):
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown model name '{name}'.{hint} "
            f"Known models: {', '.join(sorted(_MODELS))} (see keras_hire.models.list_models())."
        )


def create_model(name, **overrides):
    """Builds a registered model; any constructor argument can be overridden.

    Example:
    ```python
    model = keras_hire.models.create_model("hire_mlp_tiny", num_classes=10, input_shape=(64, 64, 3))
    ```
    """
    _known(name)
    return _MODELS[name](**overrides)


def model_info(name):
    """The `ModelInfo` of a registered model (paper, default size, crop, mean/std, checkpoint)."""
    _known(name)
    return _INFOS[name]


def variant_config(name):
    """The constructor arguments of `model_info(name).family` that the variant `name` was registered with.

    Example: `variant_config("deit_tiny")` -> `{"patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3}`.
    """
    _known(name)
    if name not in _CONFIGS:
        raise ValueError(f"'{name}' was registered with register_model, not as a configuration of a family "
                         "(register_variant); it has no variant configuration.")
    return dict(_CONFIGS[name])
