"""`mnist_5k_val`: the embedded digits with a validation split carved out of the training split.

A search that picks architectures by accuracy must not look at the test split it is finally
judged on. `train` (3,200: 320 per digit) and `val` (800: 80 per digit) partition mnist_5k's
4,000 training digits (stratified, fixed seed); `test` is mnist_5k's 1,000 test digits.
"""

import functools

import numpy as np

from keras_hire.data.embedded import digits_source, mnist_5k_arrays

VAL_PER_CLASS = 80
_SEED = 20210801  # fixed: the partition must never change


@functools.lru_cache(maxsize=1)
def _partition():
    images, labels = mnist_5k_arrays()["train"]
    rng = np.random.RandomState(_SEED)
    val = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == d))[:VAL_PER_CLASS] for d in range(10)]))
    train = np.setdiff1d(np.arange(len(labels)), val)
    return {"train": (images[train], labels[train]), "val": (images[val], labels[val]),
            "test": mnist_5k_arrays()["test"]}


def mnist_5k_val(split):
    """The `"train"` (3,200), `"val"` (800, from mnist_5k's train) or `"test"` (1,000) split."""
    return digits_source("mnist_5k_val", _partition(), split)
