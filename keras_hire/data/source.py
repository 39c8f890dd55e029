"""`ImageSource`: one split of a dataset, as a re-shufflable tf.data source of raw images."""

import dataclasses
from typing import Callable, Optional, Tuple

from keras_hire.utils.image_stats import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported)


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """One split of an image-classification dataset.

    Attributes:
        name: dataset name, e.g. `"mnist_5k"`.
        split: split name, e.g. `"train"`.
        num_examples: examples in the split (readable ones, for image folders).
        class_names: one name per label index.
        channels: channels of the stored images (1 or 3).
        mean, std: per-channel normalisation statistics on the 0-255 scale.
        make_dataset: `make_dataset(shuffle_seed)` returns a `tf.data.Dataset` of
            `(image uint8 (H, W, C), label int32)`; `shuffle_seed` is `None` (stored order)
            or an int64 scalar tensor, so that every epoch can get its own deterministic order.
        skipped: paths of files that were found unreadable and left out.
        native_size: `(height, width)` when every image has this size, else `None`.
        seekable: `make_dataset` takes a tensor seed, so every epoch gets its own order and a
            resumed run replays the uninterrupted run's batches. Streams (TFDS) take a Python
            int instead and reshuffle on every pass; a resumed run gets a fresh seeded order.
        labels: every example's label in stored order (int array) when known without decoding;
            then `make_dataset(order=indices)` reads the examples in the order given, which is
            how capped evaluations draw a class-balanced subset (`balanced_order`).
    """

    name: str
    split: str
    num_examples: int
    class_names: Tuple[str, ...]
    channels: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    make_dataset: Callable
    skipped: Tuple[str, ...] = ()
    native_size: Optional[Tuple[int, int]] = None
    seekable: bool = True
    labels: Optional[object] = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def num_classes(self):
        return len(self.class_names)


def shuffled_indices(count, seed):
    """A permutation of `range(count)` that depends only on `seed` (an int64 scalar tensor)."""
    import tensorflow as tf

    seed_pair = tf.stack([tf.constant(0x5EED, tf.int64), tf.cast(seed, tf.int64)])
    keys = tf.random.stateless_uniform([count], seed=seed_pair)
    return tf.argsort(keys)


def balanced_order(labels, seed):
    """A seeded order of the examples in which every prefix is as class-balanced as the data allows.

    Within each class the examples are shuffled; then the first of every class come first (in a
    shuffled class order), then the second of every class, and so on. So the first `k * C`
    indices hold `k` examples of each of the `C` classes that have at least `k`.
    """
    import numpy as np

    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels), np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[rng.permutation(members)] = np.arange(len(members))
    tie_break = rng.permutation(len(labels))
    return np.lexsort((tie_break, rank))


def index_dataset(count, shuffle_seed=None, order=None):
    """The indices a source reads: stored order, a seeded shuffle (tensor seed) or `order` as given."""
    import tensorflow as tf

    if order is not None:
        return tf.data.Dataset.from_tensor_slices(tf.constant(order, tf.int64))
    if shuffle_seed is None:
        return tf.data.Dataset.range(count)
    return tf.data.Dataset.from_tensor_slices(shuffled_indices(count, shuffle_seed))
