"""`Config`: the base of every keras_hire config dataclass (training, export, benchmarks, methods).

A config is a dataclass whose fields carry their help text and limits in their metadata
(`config_field`). It validates itself on construction, so a bad value fails before any work
starts, with an error naming the field, the value and the fix; it round-trips through dicts and
JSON (nested configs included); and `keras_hire.utils.flags` turns it into absl flags.

```python
@dataclasses.dataclass
class ExportConfig(Config):
    model: str = config_field(None, help="The .keras file.", required=True)
    num_eval: int = config_field(1000, help="Held-out images to verify on.", min=0)
```
"""

import dataclasses
import difflib
import json
import typing

_MISSING = dataclasses.MISSING


class ConfigError(ValueError):
    """A config field holds a value of the wrong type or out of its range."""


def config_field(default=_MISSING, *, help, default_factory=_MISSING, choices=None, min=None, max=None,  # noqa: A002
                 greater_than=None, less_than=None, required=False, fix=None):
    """A dataclass field with what validation and flag generation need.

    Args:
        default, default_factory: as in `dataclasses.field`.
        help: one line for `--help` and the docs.
        choices: the allowed values (becomes an enum flag).
        min, max: inclusive bounds; `greater_than`, `less_than`: exclusive bounds.
        required: `None` (the default) is refused: the user must give a value.
        fix: how to repair a bad value, when the bounds alone do not say it.
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "min": min, "max": max,
                "greater_than": greater_than, "less_than": less_than, "required": required, "fix": fix}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class Config:
    """Base class: typed, range-checked fields, `from_dict`/`from_json`/`to_dict`/`to_json`/`replace`.

    Subclasses add cross-field checks by overriding `check()` (raise `ConfigError` via `self.fail`).
    """

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = _coerce(self, field, hints[field.name], getattr(self, field.name))
            object.__setattr__(self, field.name, value)
        self.check()

    def check(self):
        """Cross-field validation; override in subclasses."""

    def fail(self, name, problem, fix):
        raise ConfigError(f"{type(self).__name__}.{name}={getattr(self, name)!r}: {problem}. Fix: {fix}")

    @classmethod
    def from_dict(cls, values):
        """Builds the config from a (nested) dict; unknown keys fail, naming the closest valid ones."""
        if not isinstance(values, dict):
            raise ConfigError(f"{cls.__name__} needs a dict of field values; received {type(values).__name__}.")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = [key for key in values if key not in names]
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field {', '.join(cls._hint(key, names) for key in unknown)}. "
                              f"Valid fields: {', '.join(names)}.")
        hints = typing.get_type_hints(cls)
        built = {}
        for key, value in values.items():
            nested = _config_type(hints[key])
            built[key] = nested.from_dict(value) if nested is not None and isinstance(value, dict) else value
        return cls(**built)

    @classmethod
    def _hint(cls, key, names):
        """`key` with where it probably belongs: a nested config's field, or a close spelling."""
        hints = typing.get_type_hints(cls)
        for name in names:
            nested = _config_type(hints[name])
            if nested is not None and key in [field.name for field in dataclasses.fields(nested)]:
                return f"{key!r} (it is {name}.{key}: pass {{{name!r}: {{{key!r}: ...}}}})"
        close = difflib.get_close_matches(key, names, 3)
        return f"{key!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")

    @classmethod
    def from_json(cls, path):
        """Reads a config written by `to_json` (or by hand: any subset of the fields)."""
        try:
            with open(path) as handle:
                values = json.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"Config file {path!r} does not exist.") from None
        except json.JSONDecodeError as error:
            raise ConfigError(f"Config file {path!r} is not valid JSON: {error}.") from None
        return cls.from_dict(values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes):
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)


def _config_type(hint):
    """The `Config` subclass a type hint names (also inside `Optional`), or None."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, Config):
            return candidate
    return None


def field_help(field):
    return field.metadata.get("help", "")


def _coerce(config, field, hint, value):
    """`value` converted to the field's type (int -> float, list -> tuple), or a `ConfigError`."""
    where = f"{type(config).__name__}.{field.name}={value!r}"
    meta = field.metadata
    base, optional = _strip_optional(hint)
    if value is None:
        if optional and not meta.get("required"):
            return None
        raise ConfigError(f"{where}: a value is required. Fix: set {field.name} (--{field.name}): {field_help(field)}")
    value = _coerce_type(where, base, value)
    _check_range(where, meta, value)
    return value


def _strip_optional(hint):
    args = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Union and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        return rest[0], True
    return hint, False


def _coerce_type(where, hint, value):
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, Config):
        if isinstance(value, dict):
            return hint.from_dict(value)
        if not isinstance(value, hint):
            raise ConfigError(f"{where}: expected a {hint.__name__} or a dict of its fields.")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected a whole number. Fix: pass an integer, e.g. {int(_number(value))}.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number.")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string.")
        return value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a dict (JSON object), e.g. {{\"depths\": [1, 1, 1, 1]}}.")
        return dict(value)
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (tuple, list)):
            raise ConfigError(f"{where}: expected a list.")
        element = typing.get_args(hint)[0] if typing.get_args(hint) else None
        items = [_coerce_type(where, element, item) for item in value] if element is not None else list(value)
        return tuple(items) if origin is tuple else items
    return value


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0


def _check_range(where, meta, value):
    values = value if isinstance(value, (tuple, list)) else (value,)
    choices = meta.get("choices")
    for item in values if choices is not None else ():
        if item not in choices:
            close = difflib.get_close_matches(str(item), [str(c) for c in choices], 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: {item!r} is not one of {', '.join(map(repr, choices))}{hint}.")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return
    bounds = [("min", ">=", lambda v, b: v >= b), ("max", "<=", lambda v, b: v <= b),
              ("greater_than", ">", lambda v, b: v > b), ("less_than", "<", lambda v, b: v < b)]
    for key, symbol, holds in bounds:
        bound = meta.get(key)
        if bound is not None and not all(holds(v, bound) for v in values):
            fix = meta.get("fix") or f"use a value {symbol} {bound}"
            raise ConfigError(f"{where}: must be {symbol} {bound}. Fix: {fix}.")
