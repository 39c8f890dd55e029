"""Name -> builder registry, timm-style: `create_model("hire_mlp_small", num_classes=10)`."""

import difflib

_MODELS = {}


def register_model(name):
    """Registers a builder under `name`; the builder takes keyword overrides only."""

    def decorator(builder):
        if name in _MODELS:
            raise ValueError(f"Model name '{name}' is already registered.")
        _MODELS[name] = builder
        return builder

    return decorator


def list_models(pattern=None):
    """Sorted registered names, optionally filtered by a substring or `fnmatch` pattern."""
    import fnmatch

    names = sorted(_MODELS)
    if pattern is None:
        return names
    if any(ch in pattern for ch in "*?["):
        return [n for n in names if fnmatch.fnmatch(n, pattern)]
    return [n for n in names if pattern in n]


def create_model(name, **overrides):
    """Builds a registered model; any constructor argument can be overridden.

    Example:
    ```python
    model = keras_hire.models.create_model("hire_mlp_tiny", num_classes=10, input_shape=(64, 64, 3))
    ```
    """
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown model name '{name}'.{hint} "
            f"Known models: {', '.join(sorted(_MODELS))} (see keras_hire.models.list_models())."
        )
    return _MODELS[name](**overrides)
