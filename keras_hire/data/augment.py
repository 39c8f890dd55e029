"""Augmentation and preprocessing of the papers' recipes, with Keras 3 preprocessing layers.

Per image (before batching, images may differ in size): Inception-style random-resized crop for
training, resize + center crop for evaluation. Keras 3 has no random-resized-crop layer, so that
one is a stateless `tf.image` op seeded per example.
Per batch: `keras.layers.RandomFlip`, `RandAugment`, `RandomErasing`, `Normalization`, then
`MixUp` / `CutMix` on one-hot labels. Label smoothing lives in the loss
(`keras.losses.CategoricalCrossentropy(label_smoothing=...)`).
"""

import dataclasses

from keras_hire.utils.config import Config, config_field


@dataclasses.dataclass
class AugmentConfig(Config):
    """Training-time augmentation. The defaults are off; `AugmentConfig.imagenet()` is the papers' recipe.

    Attributes:
        random_resized_crop: Inception crop (scale 0.08-1, ratio 3/4-4/3) instead of a plain resize.
        flip: random horizontal flip.
        randaugment_ops: RandAugment operations per image (0 disables RandAugment).
        randaugment_magnitude: RandAugment magnitude in [0, 1] (timm's m9 of 10 is 0.9).
        random_erasing: probability of erasing a random box (timm `reprob`).
        mixup: mixup alpha (0 disables).
        cutmix: cutmix alpha (0 disables). With both, each batch gets one of them at random.
    """

    random_resized_crop: bool = config_field(False, help="Inception-style random-resized crop (ImageNet recipe).")
    flip: bool = config_field(False, help="Random horizontal flip.")
    randaugment_ops: int = config_field(0, help="RandAugment ops per image (0 = off; the papers use 2).", min=0)
    randaugment_magnitude: float = config_field(0.9, help="RandAugment magnitude in [0, 1] (timm's m9 is 0.9).",
                                                min=0.0, max=1.0)
    random_erasing: float = config_field(0.0, help="Random-erasing probability (the papers use 0.25).",
                                         min=0.0, max=1.0)
    mixup: float = config_field(0.0, help="Mixup alpha (0 = off; the papers use 0.8).", min=0.0)
    cutmix: float = config_field(0.0, help="CutMix alpha (0 = off; the papers use 1.0).", min=0.0)

    @classmethod
    def imagenet(cls, mixup=0.8, cutmix=1.0):
        """DeiT/Hire-MLP recipe: RRC, flip, rand-m9-n2, random erasing 0.25, mixup 0.8, cutmix 1.0."""
        return cls(random_resized_crop=True, flip=True, randaugment_ops=2, randaugment_magnitude=0.9,
                   random_erasing=0.25, mixup=mixup, cutmix=cutmix)


def train_crop(image, image_size, seed):
    """Random-resized crop to `image_size` (float32 0-255 out); `seed` is a shape-(2,) int tensor."""
    import tensorflow as tf

    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.zeros([1, 0, 4]), seed=seed, min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, size)
    crop.set_shape([None, None, image.shape[-1]])
    return tf.image.resize(tf.cast(crop, tf.float32), image_size, method="bicubic", antialias=True)


def eval_resize(image, image_size, crop_fraction):
    """Resize so that the center crop of `crop_fraction` covers `image_size`, then center crop.

    `crop_fraction=1` (or an image already of `image_size`) is a plain resize.
    """
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
    height, width = image_size
    if crop_fraction >= 1.0:
        return tf.image.resize(image, image_size, method="bicubic", antialias=True)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = max(height, width) / crop_fraction / tf.reduce_min(shape)
    resized_shape = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, resized_shape, method="bicubic", antialias=True)
    top = (resized_shape[0] - height) // 2
    left = (resized_shape[1] - width) // 2
    return image[top:top + height, left:left + width]


def match_channels(image, channels):
    """Grey to RGB by repetition, RGB to grey by luminance, to fit the model's input channels."""
    import tensorflow as tf

    have = image.shape[-1]
    if have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.repeat(image, 3, axis=-1)
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(image)
    raise ValueError(f"Cannot convert {have}-channel images to {channels} channels.")


class BatchAugmenter:
    """Keras 3 preprocessing layers applied to float 0-255 image batches with one-hot labels."""

    def __init__(self, config, mean, std, seed=0):
        import keras

        self.config = config
        self.normalize = keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std])
        self.flip = keras.layers.RandomFlip("horizontal", seed=seed) if config.flip else None
        self.randaugment = (
            keras.layers.RandAugment(value_range=(0, 255), num_ops=config.randaugment_ops,
                                     factor=config.randaugment_magnitude, seed=seed + 1)
            if config.randaugment_ops else None
        )
        self.erasing = (
            keras.layers.RandomErasing(factor=config.random_erasing, value_range=(0, 255), seed=seed + 2)
            if config.random_erasing else None
        )
        self.mixup = keras.layers.MixUp(alpha=config.mixup, seed=seed + 3) if config.mixup else None
        self.cutmix = keras.layers.CutMix(factor=config.cutmix, seed=seed + 4) if config.cutmix else None

    def __call__(self, images, labels, batch_seed):
        import tensorflow as tf

        if self.flip is not None:
            images = self.flip(images, training=True)
        if self.randaugment is not None:
            images = self.randaugment(images, training=True)
        if self.erasing is not None:
            images = self.erasing(images, training=True)
        images = self.normalize(images)
        if self.mixup is not None and self.cutmix is not None:
            use_mixup = tf.random.stateless_uniform([], seed=batch_seed) < 0.5
            images, labels = tf.cond(use_mixup, lambda: self._mix(self.mixup, images, labels),
                                     lambda: self._mix(self.cutmix, images, labels))
        elif self.mixup is not None:
            images, labels = self._mix(self.mixup, images, labels)
        elif self.cutmix is not None:
            images, labels = self._mix(self.cutmix, images, labels)
        return images, labels

    @staticmethod
    def _mix(layer, images, labels):
        mixed = layer({"images": images, "labels": labels}, training=True)
        return mixed["images"], mixed["labels"]
