"""The data side of a training run: sources, input size, channels, steps and the eval transform."""

import dataclasses

from keras_hire.data.class_list import check_split, class_record
from keras_hire.data.source import ImageSource


@dataclasses.dataclass
class RunData:
    """What a run reads and the input it feeds the model.

    Attributes:
        train_source, eval_source: the two splits (`keras_hire.data.ImageSource`).
        eval_split: the held-out split's name.
        image_size: `(height, width)` the model is built for.
        channels: input channels of the model.
        steps_per_epoch: optimizer steps per epoch.
        crop_fraction: the evaluation transform's center-crop fraction.
    """

    train_source: ImageSource
    eval_source: ImageSource
    eval_split: str
    image_size: tuple
    channels: int
    steps_per_epoch: int
    crop_fraction: float

    @property
    def input_shape(self):
        return self.image_size + (self.channels,)

    def eval_stream(self, batch_size, num_batches=None, seed=0):
        """The held-out pass; `num_batches` caps it to a seeded, class-balanced subset of that many batches."""
        from keras_hire import data

        limit = None if num_batches is None else num_batches * batch_size
        if limit is not None and limit >= self.eval_source.num_examples:
            limit = None
        return data.eval_dataset(self.eval_source, self.image_size, batch_size, crop_fraction=self.crop_fraction,
                                 channels=self.channels, limit=limit, shuffle_seed=None if limit is None else seed)

    def train_stream(self, config, start_epoch):
        from keras_hire import data

        return data.train_dataset(self.train_source, self.image_size, config.batch_size, seed=config.seed,
                                  start_epoch=start_epoch, augment=config.augment, channels=self.channels,
                                  epoch_steps=self.steps_per_epoch)


def prepare_data(config):
    """The `RunData` of `config`: the model's `ModelInfo` fills the input size and crop left unset."""
    from keras_hire import data
    from keras_hire.models import model_info

    info = model_info(config.model)
    train_source = data.get_source(config.dataset, config.train_split, config.data_dir)
    eval_split = config.eval_split or data.eval_split_name(config.dataset, config.data_dir)
    eval_source = data.get_source(config.dataset, eval_split, config.data_dir)
    check_split(class_record(train_source), eval_source, "evaluation split")
    if config.image_size:
        image_size = (config.image_size, config.image_size)
    else:
        image_size = tuple(train_source.native_size or info.input_size)
    steps = config.steps_per_epoch or data.steps_per_epoch(train_source, config.batch_size)
    crop = config.eval_crop_fraction or info.crop_fraction
    return RunData(train_source, eval_source, eval_split, image_size, config.channels or train_source.channels,
                   steps, crop)

