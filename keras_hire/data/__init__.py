"""Datasets by name and tf.data pipelines for training and evaluation. TensorFlow-only.

```python
train = keras_hire.data.get_source("mnist_5k", "train")            # embedded, offline
train = keras_hire.data.get_source("folder", "train", data_dir="/data/imagenet")
train = keras_hire.data.get_source("tfds:imagenet2012", "train", data_dir="/data/tfds")
stream = keras_hire.data.train_dataset(train, (224, 224), 128, augment=AugmentConfig.imagenet())
```
"""

from keras_hire.data.augment import AugmentConfig, BatchAugmenter
from keras_hire.data.embedded import mnist_5k, mnist_5k_arrays
from keras_hire.data.folders import image_folder, looks_readable
from keras_hire.data.pipeline import eval_arrays, eval_dataset, steps_per_epoch, train_dataset
from keras_hire.data.registry import EMBEDDED_DATASETS, eval_split_name, get_source
from keras_hire.data.source import IMAGENET_MEAN, IMAGENET_STD, ImageSource
from keras_hire.data.tfds_source import DatasetNotPreparedError, tfds_source

__all__ = [
    "AugmentConfig", "BatchAugmenter", "DatasetNotPreparedError", "EMBEDDED_DATASETS", "IMAGENET_MEAN",
    "IMAGENET_STD", "ImageSource", "eval_arrays", "eval_dataset", "eval_split_name", "get_source",
    "image_folder", "looks_readable", "mnist_5k", "mnist_5k_arrays", "steps_per_epoch", "tfds_source",
    "train_dataset",
]
