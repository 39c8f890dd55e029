"""absl flags generated from a `Config` dataclass, and the config built back from them.

Every leaf field becomes one flag of the same name (nested configs such as `TrainConfig.augment`
are flattened: `--mixup`, not `--augment.mixup`), with the field's default, help text and choices.
`--config=run.json` loads a whole config (e.g. a run's `config.json`); flags given on the command
line override it.

```python
FLAGS = flags.FLAGS
define_config_flags(TrainConfig)

def main(argv):
    config = config_from_flags(TrainConfig)   # validated; a bad value is an absl UsageError
```
"""

import dataclasses
import json
import sys
import typing

from absl import app, flags

from keras_hire.utils.config import Config, ConfigError, _config_type, _strip_optional, field_help

CONFIG_FLAG = "config"


def flag_paths(config_cls):
    """`{flag name: (path of field names, field, type hint)}` of every leaf field, nested ones flattened."""
    paths = {}
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        nested = _config_type(hints[field.name])
        if nested is not None:
            for name, (path, leaf, hint) in flag_paths(nested).items():
                _add(paths, name, ((field.name,) + path, leaf, hint), config_cls)
        else:
            _add(paths, field.name, ((field.name,), field, hints[field.name]), config_cls)
    return paths


def _add(paths, name, entry, config_cls):
    if name in paths or name == CONFIG_FLAG:
        other = ".".join(paths[name][0]) if name in paths else "--config"
        raise ValueError(f"{config_cls.__name__}: fields {'.'.join(entry[0])} and {other} would both be --{name}; "
                         "rename one of them.")
    paths[name] = entry


def run_config_binary(config_cls, main):
    """The whole of a binary's `__main__`: flags from `config_cls`, then `main(config)` under `app.run`.

    Extra positional arguments and bad values are absl usage errors naming the problem.
    """
    define_config_flags(config_cls, _module=_caller_module())

    def absl_main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}; every setting is a --flag (see --help).")
        return main(config_from_flags(config_cls))

    app.run(absl_main)


def _caller_module(depth=2):
    """The module name absl files a flag under (the script path for `__main__`), so --help lists it."""
    caller = sys._getframe(depth).f_globals.get("__name__", "")
    return sys.argv[0] if caller == "__main__" else caller


def define_config_flags(config_cls, flag_values=flags.FLAGS, _module=None):
    """Defines one absl flag per leaf field of `config_cls`, plus `--config` (a JSON file)."""
    defaults = _field_defaults(config_cls)
    module = {"flag_values": flag_values, "module_name": _module or _caller_module()}
    flags.DEFINE_string(CONFIG_FLAG, None, f"A JSON file of {config_cls.__name__} fields (e.g. a run's "
                        "config.json); flags given on the command line override it.", **module)
    for name, (path, field, hint) in flag_paths(config_cls).items():
        default = _lookup(defaults, path)
        base, _ = _strip_optional(hint)
        help_text = field_help(field) or name
        choices = field.metadata.get("choices")
        if isinstance(default, dict):
            default = json.dumps(default)
        if choices is not None and base is str:
            flags.DEFINE_enum(name, default, list(choices), help_text, **module)
        elif base is bool:
            flags.DEFINE_bool(name, default, help_text, **module)
        elif base is int:
            flags.DEFINE_integer(name, default, help_text, **module)
        elif base is float:
            flags.DEFINE_float(name, default, help_text, **module)
        elif typing.get_origin(base) in (tuple, list):
            items = None if default is None else [str(item) for item in default]
            flags.DEFINE_list(name, items, help_text, **module)
        elif base is dict or typing.get_origin(base) is dict:
            flags.DEFINE_string(name, default, help_text + " (JSON object)", **module)
        else:
            flags.DEFINE_string(name, default, help_text, **module)


def config_from_flags(config_cls, flag_values=flags.FLAGS):
    """The validated config: defaults, then `--config`'s file, then the flags given on the command line.

    Raises:
        app.UsageError: naming the flag, the value and the fix.
    """
    try:
        values = config_cls.from_json(flag_values[CONFIG_FLAG].value).to_dict() if flag_values[CONFIG_FLAG].value \
            else _defaults_from_flags(config_cls, flag_values)
        for name, (path, _, hint) in flag_paths(config_cls).items():
            if flag_values[name].present:
                _store(values, path, _flag_value(name, flag_values[name].value, hint))
        return config_cls.from_dict(values)
    except ConfigError as error:
        raise app.UsageError(f"{error}") from None


def _defaults_from_flags(config_cls, flag_values):
    """Every flag's value (its default unless given), as a nested dict."""
    values = {}
    for name, (path, _, hint) in flag_paths(config_cls).items():
        _store(values, path, _flag_value(name, flag_values[name].value, hint))
    return values


def _flag_value(name, value, hint):
    """A flag's parsed value in the field's type (JSON for dicts, typed elements for lists)."""
    base, _ = _strip_optional(hint)
    if value is None:
        return None
    if base is dict or typing.get_origin(base) is dict:
        try:
            return json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError as error:
            raise ConfigError(f"--{name}={value!r} is not valid JSON ({error}). Fix: pass a JSON object, "
                              f"e.g. --{name}='{{\"depths\": [1, 1, 1, 1]}}'.") from None
    if typing.get_origin(base) in (tuple, list):
        element = (typing.get_args(base) or (str,))[0]
        try:
            return [element(item) for item in value] if element in (int, float) else list(value)
        except ValueError:
            raise ConfigError(f"--{name}={','.join(value)}: every item must be a {element.__name__}. "
                              f"Fix: a comma-separated list such as --{name}=1,2.") from None
    return value


def _field_defaults(config_cls):
    """The fields' declared defaults as a nested dict, without validating (required fields are None)."""
    values = {}
    for field in dataclasses.fields(config_cls):
        if field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            value = None if field.default is dataclasses.MISSING else field.default
        values[field.name] = value.to_dict() if isinstance(value, Config) else value
    return values


def _lookup(values, path):
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def _store(values, path, value):
    for key in path[:-1]:
        values = values.setdefault(key, {})
    values[path[-1]] = value


__all__ = ["config_from_flags", "define_config_flags", "flag_paths", "run_config_binary"]
