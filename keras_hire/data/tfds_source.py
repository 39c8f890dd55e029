"""TensorFlow Datasets by name, from a `data_dir` prepared beforehand (never downloads)."""

from keras_hire.data.source import IMAGENET_MEAN, IMAGENET_STD, ImageSource


class DatasetNotPreparedError(FileNotFoundError):
    """A TFDS dataset was asked for but has not been built into `data_dir`."""


def tfds_source(name, split, data_dir=None):
    """An `ImageSource` over the prepared TFDS dataset `name` (e.g. `"imagenet2012"`).

    Raises:
        ImportError: tensorflow-datasets is not installed.
        DatasetNotPreparedError: the dataset is not in `data_dir`, with the command that builds it.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            "TFDS datasets need tensorflow-datasets: pip install 'tensorflow-datasets>=4.9,<5' importlib_resources"
        ) from error
    builder = tfds.builder(name, data_dir=data_dir)
    where = data_dir or "~/tensorflow_datasets"
    try:
        info = builder.info
        probe = builder.as_dataset(split=split, shuffle_files=False, as_supervised=True)  # fails if not prepared
    except (AssertionError, FileNotFoundError, KeyError, ValueError) as error:
        manual = " ImageNet needs its tarballs in <data_dir>/downloads/manual first." if "imagenet" in name else ""
        raise DatasetNotPreparedError(
            f"TFDS dataset {name!r} split {split!r} is not prepared in {where!r} ({error}). Nothing is downloaded at "
            f"run time: build it beforehand with `tfds build {name} --data_dir={where}` on a machine with network "
            f"access, then pass --data_dir={where}.{manual}"
        ) from error
    num_examples = _num_examples(info, split, probe)
    label_feature = info.features["label"]
    image_shape = info.features["image"].shape
    channels = image_shape[-1] or 3

    def make_dataset(shuffle_seed=None):
        import tensorflow as tf

        # `probe` was built eagerly: TFDS cannot open files inside a traced tf.data function.
        dataset = probe.map(lambda image, label: (image, tf.cast(label, tf.int32)))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(16384, seed=int(shuffle_seed), reshuffle_each_iteration=True)
        return dataset

    native = tuple(image_shape[:2]) if None not in image_shape[:2] else None
    grey = channels == 1
    return ImageSource(
        name=f"tfds:{name}", split=split, num_examples=num_examples,
        class_names=tuple(label_feature.names), channels=channels,
        mean=(IMAGENET_MEAN[0],) if grey else IMAGENET_MEAN, std=(IMAGENET_STD[0],) if grey else IMAGENET_STD,
        make_dataset=make_dataset, native_size=native, seekable=False,
    )


def _num_examples(info, split, dataset):
    try:
        return info.splits[split].num_examples
    except (KeyError, ValueError):  # split arithmetic TFDS cannot size from metadata (or mocked data)
        count = int(dataset.cardinality())
        return count if count >= 0 else int(dataset.reduce(0, lambda total, _: total + 1))
