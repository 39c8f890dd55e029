"""tf.data pipelines: a deterministic, endless, per-epoch-shuffled training stream and an eval pass."""

from keras_hire.data.augment import AugmentConfig, BatchAugmenter, eval_resize, match_channels, train_crop
from keras_hire.data.source import balanced_order

_EPOCHS_FOREVER = 2**62


def _options(tf):
    options = tf.data.Options()
    options.deterministic = True
    # Shard by element: in-memory and single-file sources cannot be sharded by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def train_dataset(source, image_size, batch_size, seed=0, start_epoch=0, augment=None, channels=None,
                  epoch_steps=None):
    """The training stream: `(images float32 normalised (B, H, W, C), one-hot labels (B, K))`.

    Endless: epoch `e` is the source shuffled with seed `(seed, e)` and cut into full batches,
    so a run resumed at `start_epoch` sees exactly the batches the uninterrupted run would
    have seen (for seekable sources; a TFDS stream is reshuffled from a seed that depends on
    `start_epoch`). Pass `steps_per_epoch(source, batch_size)` to `fit`.

    Args:
        source: an `ImageSource` (see `keras_hire.data.get_source`).
        image_size: `(height, width)` of the model input.
        batch_size: global batch size.
        seed: the run's seed; order and augmentation depend only on it.
        start_epoch: first epoch of the stream (for resuming).
        augment: an `AugmentConfig` (default: none).
        channels: the model's input channels (default: the source's).
        epoch_steps: batches per epoch when `fit` runs shorter epochs than a full pass; epoch
            `e` is then the first `epoch_steps` batches of its shuffle, so that resuming
            stays aligned with the uninterrupted run.
    """
    import tensorflow as tf

    augment = augment or AugmentConfig()
    channels = channels or source.channels
    image_size = tuple(image_size)
    num_classes = source.num_classes
    resize_only = not augment.random_resized_crop and source.native_size == image_size
    augmenter = BatchAugmenter(augment, _channel_stats(source.mean, channels), _channel_stats(source.std, channels),
                               seed)
    full_epoch = steps_per_epoch(source, batch_size)
    per_epoch = min(epoch_steps, full_epoch) if epoch_steps else full_epoch

    def prepare_examples(examples, epoch):
        def prepare(index, example):
            image, label = example
            if resize_only:
                image = tf.cast(image, tf.float32)
            elif augment.random_resized_crop:
                image = train_crop(image, image_size, tf.stack([epoch, index]) + seed)
            else:
                image = eval_resize(image, image_size, 1.0)
            return match_channels(image, channels), label

        return examples.enumerate().map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def one_epoch(epoch):
        examples = source.make_dataset(shuffle_seed=tf.cast(seed, tf.int64) * 1_000_003 + epoch)
        return prepare_examples(examples, epoch).batch(batch_size, drop_remainder=True).take(per_epoch)

    if source.seekable:
        epochs = tf.data.Dataset.range(start_epoch, _EPOCHS_FOREVER)
        batches = epochs.flat_map(one_epoch)
    else:  # a stream: reshuffled on every pass from one seed that depends on where the run starts
        examples = source.make_dataset(shuffle_seed=seed * 1_000_003 + start_epoch).repeat()
        batches = prepare_examples(examples, tf.constant(start_epoch, tf.int64)).batch(batch_size, drop_remainder=True)
    batches = batches.enumerate(start=start_epoch * per_epoch)

    def augment_batch(step, batch):
        images, labels = batch
        images.set_shape([batch_size, *image_size, channels])
        one_hot = tf.one_hot(labels, num_classes, dtype=tf.float32)
        return augmenter(images, one_hot, tf.stack([tf.cast(seed, tf.int64), step]))

    # Sequential on purpose: the Keras random layers draw from one seeded state, so parallel calls
    # would make the augmentation depend on thread timing.
    batches = batches.map(augment_batch)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(_options(tf))


def eval_dataset(source, image_size, batch_size, crop_fraction=0.875, channels=None, limit=None, shuffle_seed=None):
    """One pass over `source` in stored order: `(images float32 normalised, one-hot labels)`.

    Images of the model's size are used as they are; others are resized so that a center crop
    of `crop_fraction` (timm's crop_pct, 0.875 for ImageNet) gives `image_size`. The last batch
    may be smaller. `limit` keeps the first `limit` examples; with `shuffle_seed` (an int) they
    are a seeded subset instead (e.g. int8 calibration images from the training split), drawn
    class-balanced where the source knows its labels (stored order is often sorted by class).
    """
    import keras
    import tensorflow as tf

    channels = channels or source.channels
    image_size = tuple(image_size)
    fraction = 1.0 if source.native_size == image_size else crop_fraction
    mean, std = _channel_stats(source.mean, channels), _channel_stats(source.std, channels)
    normalize = keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std])
    seed = shuffle_seed
    if shuffle_seed is not None and source.seekable:
        seed = tf.constant(shuffle_seed, tf.int64)
    if limit is not None and shuffle_seed is not None and source.labels is not None:
        examples = source.make_dataset(order=balanced_order(source.labels, shuffle_seed)[:limit])
    else:
        examples = source.make_dataset(shuffle_seed=seed)
    if limit is not None:
        examples = examples.take(limit)

    def prepare(image, label):
        image = match_channels(eval_resize(image, image_size, fraction), channels)
        # Folder images have no static size; models whose layers need the grid (Hire-MLP, CMT) do.
        return tf.ensure_shape(image, (*image_size, channels)), label

    examples = examples.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    batches = examples.batch(batch_size).map(
        lambda images, labels: (normalize(images), tf.one_hot(labels, source.num_classes, dtype=tf.float32))
    )
    return batches.prefetch(tf.data.AUTOTUNE).with_options(_options(tf))


def steps_per_epoch(source, batch_size):
    """Full batches per epoch (the remainder is dropped; it differs every epoch thanks to shuffling)."""
    steps = source.num_examples // batch_size
    if steps < 1:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {source.num_examples} examples of "
            f"{source.name}/{source.split}; use a smaller --batch_size."
        )
    return steps


def eval_arrays(source, image_size, channels=None, limit=None, crop_fraction=0.875, shuffle_seed=None):
    """Preprocessed images (eval transform) and integer labels as numpy arrays (for TFLite checks)."""
    import numpy as np

    images, labels = [], []
    for batch_images, batch_labels in eval_dataset(source, image_size, 256, crop_fraction, channels, limit,
                                                   shuffle_seed):
        images.append(batch_images.numpy())
        labels.append(np.argmax(batch_labels.numpy(), axis=-1))
    return np.concatenate(images), np.concatenate(labels)


def _channel_stats(stats, channels):
    stats = tuple(stats)
    if len(stats) == channels:
        return stats
    if len(stats) == 1:
        return stats * channels
    return (float(sum(stats) / len(stats)),) * channels if channels == 1 else stats


__all__ = ["eval_arrays", "eval_dataset", "steps_per_epoch", "train_dataset"]
