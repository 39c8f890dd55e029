"""The base of every keras_hire model: a functional `keras.Model` with input checks and pyramids."""

import numbers

import keras


def validate_input_shape(input_shape, family, min_size, divisor=1, why=""):
    """Checks a constructor `input_shape` and returns it as a tuple `(height, width, channels)`."""
    shape = tuple(input_shape) if input_shape is not None else ()
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            f"{family} needs a static input_shape=(height, width, channels), e.g. (224, 224, 3); "
            f"got input_shape={input_shape!r}. Build one model per input size."
        )
    height, width, channels = (int(d) for d in shape)
    if channels < 1:
        raise ValueError(f"{family}: input_shape={shape} has {channels} channels; expected at least 1.")
    if height < min_size or width < min_size:
        raise ValueError(
            f"{family}: input_shape={shape} is too small; height and width must be at least "
            f"{min_size} pixels{why}. Resize or pad your images."
        )
    if height % divisor or width % divisor:
        raise ValueError(
            f"{family}: input_shape={shape} is not supported; height and width must be multiples of "
            f"{divisor}{why}. The nearest supported sizes are "
            f"{_nearest(height, divisor)}x{_nearest(width, divisor)}."
        )
    return height, width, channels


def validate_head(family, num_classes, include_top):
    """`num_classes` must be a positive int when the model has a classifier (a float would reach Dense)."""
    if not include_top:
        return
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"{family}: num_classes must be an int >= 1 with include_top=True; received "
                         f"{num_classes!r}. Fix: pass the number of classes, e.g. num_classes=10.")


def validate_rates(family, **rates):
    """Dropout-like rates are probabilities in [0, 1)."""
    for name, value in rates.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
            raise ValueError(f"{family}: {name} must be a number in [0, 1); received {value!r}. "
                             f"Fix: pass e.g. {name}=0.1.")


def ints(values):
    """A config value kept as a tuple of ints (stage depths, widths, ...)."""
    return tuple(int(v) for v in values)


def _nearest(size, divisor):
    lower = max(divisor, size // divisor * divisor)
    return lower if size - lower <= divisor // 2 else lower + divisor


class Backbone(keras.Model):
    """A functional model whose calls check the image batch and that exposes pyramid features.

    Subclasses build their graph in `__init__`, pass `pyramid_outputs` (a dict of stage name to
    symbolic tensor), map every other constructor argument to its type in `config_keys` and call
    `self.keep_config(locals())` after `super().__init__`, so that `get_config` returns them all.
    """

    config_keys = {}  # constructor argument -> the type it is kept as (int, float, bool, ints, tuple, str)

    def __init__(self, inputs, outputs, pyramid_outputs=None, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.pyramid_outputs = dict(pyramid_outputs or {})

    @property
    def model_info(self):
        """The registry's `ModelInfo` for this model's name, or `None` for a name not registered."""
        from keras_hire.models.registry import list_models, model_info

        return model_info(self.name) if self.name in list_models() else None

    def __call__(self, inputs, *args, **kwargs):
        # Before Keras' own input-spec check, whose message does not say what to change.
        self._check_batch_shape(getattr(inputs, "shape", None))
        return super().__call__(inputs, *args, **kwargs)

    def _check_batch_shape(self, shape):
        expected = tuple(self.inputs[0].shape[1:])
        if shape is None or len(shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects a batch of images of shape (batch, {', '.join(map(str, expected))}); "
                f"got an input of shape {shape}. Add a batch axis with x[None] for a single image."
            )
        got = tuple(shape[1:])
        if got[-1] is not None and got[-1] != expected[-1]:
            fix = (
                " Convert grayscale images to RGB first (e.g. keras.ops.repeat(x, 3, axis=-1))"
                if got[-1] == 1 and expected[-1] == 3
                else ""
            )
            raise ValueError(
                f"{type(self).__name__} was built for {expected[-1]}-channel images but received a batch "
                f"of shape {tuple(shape)} with {got[-1]} channels.{fix} Or build the model with "
                f"input_shape={expected[:2] + (got[-1],)}."
            )
        if any(g is not None and g != e for g, e in zip(got[:2], expected[:2])):
            raise ValueError(
                f"{type(self).__name__} was built for {expected[0]}x{expected[1]} images but received a "
                f"batch of shape {tuple(shape)}. Resize the images, or build the model for this size with "
                f"input_shape={got[:2] + (expected[-1],)}."
            )

    def keep_config(self, arguments):
        """Keeps each `config_keys` argument (from the constructor's `locals()`) as a typed attribute."""
        for key, kind in self.config_keys.items():
            value = arguments[key]
            setattr(self, key, value if value is None else kind(value))

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "input_shape": tuple(self.inputs[0].shape[1:])}
        config.update({key: getattr(self, key) for key in self.config_keys})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def feature_extractor(self):
        """A `keras.Model` from the image to the dict of pyramid feature maps (for dense heads)."""
        return keras.Model(self.inputs[0], self.pyramid_outputs, name=f"{self.name}_features")
