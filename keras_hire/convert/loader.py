"""`load_pytorch_weights`: official PyTorch checkpoints into keras_hire models, checked by name and shape."""

from keras_hire.convert.rules import model_targets
from keras_hire.convert.sources import read_state_dict

# Bookkeeping buffers with no Keras counterpart.
_IGNORED_SUFFIXES = ("num_batches_tracked",)
_MAX_LISTED = 12


def load_pytorch_weights(model, source, skip=()):
    """Loads an official PyTorch state_dict into a keras_hire model.

    Names are mapped by rule (see `keras_hire.convert.rules`), never by order. Nothing is
    assigned unless every name and shape matches: unknown, missing and mis-shaped names are all
    reported in one `ValueError`. `num_batches_tracked` buffers are ignored.

    Args:
        model: a keras_hire model, built (every keras_hire model is built at construction).
        source: a mapping of official names to arrays, or a path to a `.pth`/`.pt` (needs torch),
            `.npz` or `.safetensors` file.
        skip: an official-name prefix, or a sequence of them, to leave out on both sides, e.g.
            `"head."` to keep a freshly initialised classifier when fine-tuning on other classes.
            A prefix that matches no name is an error (a typo would silently load everything).

    Returns:
        The list of official names that were loaded.

    Example:
    ```python
    model = keras_hire.models.HireMLPTiny()
    keras_hire.convert.load_pytorch_weights(model, "hire_mlp_tiny.pth")
    ```
    """
    skip = _skip_prefixes(skip)
    state = {name: array for name, array in read_state_dict(source).items() if not name.endswith(_IGNORED_SUFFIXES)}
    targets = model_targets(model)
    skipped = sorted(name for name in set(state) | set(targets) if name.startswith(skip))
    unused = [prefix for prefix in skip if not any(name.startswith(prefix) for name in skipped)]
    if unused:
        raise ValueError(f"skip prefix(es) {unused} match no name of the checkpoint or the model. "
                         f"Fix: use official names, e.g. {_listed(sorted(targets)[-3:])}.")
    state = {name: array for name, array in state.items() if not name.startswith(skip)}
    targets = {name: target for name, target in targets.items() if not name.startswith(skip)}

    problems = []
    unknown = sorted(set(state) - set(targets))
    missing = sorted(set(targets) - set(state))
    if unknown:
        problems.append(f"{len(unknown)} name(s) in the checkpoint have no place in the model: {_listed(unknown)}")
    if missing:
        problems.append(f"{len(missing)} weight(s) of the model are not in the checkpoint: {_listed(missing)}")

    converted, mismatched = {}, []
    for name in sorted(set(state) & set(targets)):
        target = targets[name]
        expected = tuple(target.variable.shape)
        try:  # a checkpoint of other widths cannot even be reshaped the official way
            array = target.transform(state[name])
        except ValueError:
            mismatched.append(f"{name}: checkpoint {tuple(state[name].shape)} does not fit model {expected}")
            continue
        if tuple(array.shape) != expected:
            mismatched.append(
                f"{name}: checkpoint {tuple(state[name].shape)} -> {tuple(array.shape)}, model {expected}")
        else:
            converted[name] = array
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {_listed(mismatched)}")

    if problems:
        hint = (
            " Check that the model configuration (variant, num_classes, input channels) matches the "
            "checkpoint; pass skip=('head.',) to keep a new classifier."
        )
        raise ValueError(
            f"Cannot load the checkpoint into {type(model).__name__} '{model.name}': "
            + "; ".join(problems) + "." + hint
        )
    for name, array in converted.items():
        targets[name].variable.assign(array.astype(targets[name].variable.dtype))
    if skipped:
        print(f"[keras_hire.convert] skipped {len(skipped)} name(s) under {list(skip)}: {_listed(skipped)}")
    return sorted(converted)


def _skip_prefixes(skip):
    if isinstance(skip, str):
        return (skip,)
    try:
        prefixes = tuple(skip)
    except TypeError:
        raise TypeError(f"skip={skip!r}: expected a name prefix or a sequence of them, e.g. 'head.'.") from None
    bad = [prefix for prefix in prefixes if not isinstance(prefix, str) or not prefix]
    if bad:
        raise TypeError(f"skip holds {bad}: every entry must be a non-empty name prefix string, e.g. 'head.'.")
    return prefixes


def _listed(names):
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")
