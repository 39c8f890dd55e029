"""The training split's class list, stored beside the model so that later splits are checked against it.

Labels are indices into a split's own sorted class list, so a split that lacks a class, has an extra
one or holds other channels would silently be scored against shifted labels. Training writes
`classes.json` next to `model.keras`; evaluation, export verification and calibration read it back
and fail before any work when a split differs.
"""

import json
import os

CLASSES_FILE = "classes.json"


def class_record(source):
    """What a split must share with the training split: its class names and stored channels."""
    return {"class_names": list(source.class_names), "channels": int(source.channels), "dataset": source.name}


def write_class_list(model_dir, source):
    from keras_hire.utils.atomic import atomic_write_text

    atomic_write_text(os.path.join(model_dir, CLASSES_FILE), json.dumps(class_record(source), indent=2))


def read_class_list(model_path):
    """The record stored beside `model_path` (a `.keras` file or its directory), or None (older runs)."""
    directory = model_path if os.path.isdir(model_path) else os.path.dirname(model_path)
    path = os.path.join(directory, CLASSES_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
        return {"class_names": list(record["class_names"]), "channels": int(record["channels"]),
                "dataset": record.get("dataset", "?")}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is corrupt ({error}). Fix: delete it or rewrite it from the training split.")


def check_split(record, source, what):
    """Fails, naming the difference, when `source` is not scored on the training split's labels."""
    trained, names = record["class_names"], list(source.class_names)
    if trained != names:
        missing = [name for name in trained if name not in names]
        extra = [name for name in names if name not in trained]
        parts = [f"missing {missing[:5]}" if missing else "", f"extra {extra[:5]}" if extra else ""]
        detail = ", ".join(part for part in parts if part) or "the same names in another order"
        raise ValueError(
            f"The {what} {source.name}/{source.split} has {len(names)} classes, the training split "
            f"({record['dataset']}) had {len(trained)}: {detail}. Labels would not match. "
            "Fix: use a split with the training split's class folders."
        )
    if record["channels"] != int(source.channels):
        raise ValueError(
            f"The {what} {source.name}/{source.split} holds {source.channels}-channel images, the training "
            f"split ({record['dataset']}) {record['channels']}-channel ones. Fix: use images like the training data."
        )


def check_num_classes(num_outputs, source, what):
    if num_outputs != source.num_classes:
        raise ValueError(
            f"The model has {num_outputs} outputs but the {what} {source.name}/{source.split} has "
            f"{source.num_classes} classes. Fix: use the split the model was trained on."
        )


def checked_arrays(model, model_path, dataset, split, data_dir, limit, seed, crop_fraction, what):
    """Images of `split`, preprocessed as in evaluation at the model's input, after the checks above.

    `limit` images are a seeded, class-balanced subset (stored order is often sorted by class);
    `model_path` (a `.keras` file, or None) locates the training run's `classes.json`.
    Returns `(images, labels)`.
    """
    from keras_hire.data.pipeline import eval_arrays
    from keras_hire.data.registry import get_source

    height, width, channels = model.inputs[0].shape[1:]
    source = get_source(dataset, split, data_dir)
    check_num_classes(int(model.outputs[0].shape[-1]), source, what)
    record = read_class_list(model_path) if model_path else None
    if record is not None:
        check_split(record, source, what)
    subset_seed = seed if limit and limit < source.num_examples else None
    return eval_arrays(source, (height, width), channels, limit=limit, crop_fraction=crop_fraction,
                       shuffle_seed=subset_seed)
