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
        skip: official-name prefixes to leave out on both sides, e.g. `("head.",)` to keep a
            freshly initialised classifier when fine-tuning on other classes.

    Returns:
        The list of official names that were loaded.

    Example:
    ```python
    model = keras_hire.models.HireMLPTiny()
    keras_hire.convert.load_pytorch_weights(model, "hire_mlp_tiny.pth")
    ```
    """
    state = read_state_dict(source)
    targets = model_targets(model)

    def kept(name):
        return not name.endswith(_IGNORED_SUFFIXES) and not name.startswith(tuple(skip))

    state = {name: array for name, array in state.items() if kept(name)}
    targets = {name: target for name, target in targets.items() if kept(name)}

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
        array = target.transform(state[name])
        expected = tuple(target.variable.shape)
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
    return sorted(converted)


def _listed(names):
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")
