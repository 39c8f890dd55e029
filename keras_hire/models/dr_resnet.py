"""The DRNet classifier (Zhu et al., arXiv 2106.02898): a ResNet whose convolutions and classifier are
shared by m input resolutions, each with its own BatchNorm set (resolution-aware BN).

One functional model with one input and one output per resolution; `classifier_at(i)` is the
single-resolution model (the same layers and weights) that training stage 2 and the TFLite
signatures `classify_<r>` run. Layer names are the ResNet's (timm's), so a trained ResNet's
convolutions map onto it by name.
"""

import keras

from keras_hire.layers import ResolutionBatchNorm
from keras_hire.models.backbone import ints, validate_head
from keras_hire.models.resnet import check_resnet_arguments, resnet_graph, shared_layers, stage_channels

MIN_RESOLUTION = 32  # the ResNet stem and stages halve the input five times
SHORTCUT_NORMS = ("per_resolution", "first")
NORMS = ("per_resolution", "shared")


def check_resolutions(resolutions, family="DRResNet"):
    """Returns `resolutions` as a tuple of ints after checking they are supported and descending."""
    values = tuple(resolutions)
    if not values or any(not isinstance(r, int) and not float(r).is_integer() for r in values):
        raise ValueError(f"{family}: resolutions must be a non-empty list of ints such as (224, 168, 112); "
                         f"received {resolutions!r}.")
    values = tuple(int(r) for r in values)
    if any(a <= b for a, b in zip(values, values[1:])):
        raise ValueError(f"{family}: resolutions={values} must be strictly descending (largest first, as "
                         f"the paper's [224, 168, 112]); use {tuple(sorted(set(values), reverse=True))}.")
    if values[-1] < MIN_RESOLUTION:
        raise ValueError(f"{family}: resolution {values[-1]} is not supported by the ResNet backbone, which needs "
                         f"at least {MIN_RESOLUTION} pixels (five stride-2 steps); upsample the images or drop it.")
    return values


@keras.saving.register_keras_serializable(package="keras_hire")
class DRResNet(keras.Model):
    """A ResNet with resolution-aware BatchNorm: inputs `images_<r>` and logits for each resolution.

    Args:
        block, depths, channels, stem_width: the ResNet (see `keras_hire.models.ResNet`).
        resolutions: candidate input sizes, strictly descending, e.g. `(224, 168, 112)`.
        num_classes: classifier size.
        in_channels: image channels.
        norm: `"per_resolution"` (resolution-aware BN, the paper's) or `"shared"` (one BatchNorm set for
            all resolutions: the paper's "without RA-BN" ablation).
        shortcut_norm: `"per_resolution"` (the paper: every BN, the downsample shortcut's included,
            uses the set of the input's resolution) or `"first"` (the MindSpore code's quirk:
            the downsample-shortcut BN always uses set 0).
        name: model name.

    Example:
    ```python
    model = DRResNet("bottleneck", (3, 4, 6, 3), resolutions=(224, 168, 112))
    logits_224, logits_168, logits_112 = model([x224, x168, x112])
    classify_112 = model.classifier_at(2)   # one resolution, the same weights
    ```
    """

    def __init__(self, block, depths, channels=(64, 128, 256, 512), stem_width=64, resolutions=(224, 168, 112),
                 num_classes=1000, in_channels=3, norm="per_resolution", shortcut_norm="per_resolution",
                 name="dr_resnet", **kwargs):
        check_resnet_arguments("DRResNet", block, depths, channels)
        resolutions = check_resolutions(resolutions)
        if shortcut_norm not in SHORTCUT_NORMS:
            raise ValueError(f"DRResNet: shortcut_norm must be one of {SHORTCUT_NORMS}; received {shortcut_norm!r}.")
        if norm not in NORMS:
            raise ValueError(f"DRResNet: norm must be one of {NORMS}; received {norm!r}.")
        validate_head("DRResNet", num_classes, True)
        depths, channels = ints(depths), ints(channels)
        sets = 1 if norm == "shared" else len(resolutions)
        layer = shared_layers()
        inputs, outputs = [], []
        for index, size in enumerate(resolutions):

            def apply_norm(x, norm_name, index=index):
                quirk = shortcut_norm == "first" and norm_name.endswith("downsample.1")
                chosen = 0 if quirk or norm == "shared" else index
                return layer(norm_name, lambda: ResolutionBatchNorm(sets, name=norm_name))(x, index=chosen)

            image = keras.Input((size, size, int(in_channels)), name=f"images_{size}")
            x, _ = resnet_graph(image, block, depths, channels, int(stem_width), layer, apply_norm)
            x = layer("global_pool", lambda: keras.layers.GlobalAveragePooling2D(name="global_pool"))(x)
            outputs.append(layer("fc", lambda: keras.layers.Dense(int(num_classes), name="fc"))(x))
            inputs.append(image)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.block, self.depths, self.channels, self.stem_width = block, depths, channels, int(stem_width)
        self.resolutions, self.num_classes, self.in_channels = resolutions, int(num_classes), int(in_channels)
        self.norm, self.shortcut_norm = norm, shortcut_norm

    @property
    def embed_dims(self):
        return stage_channels(self.block, self.channels)

    def classifier_at(self, index):
        """The single-resolution classifier `resolutions[index]` (shares this model's layers)."""
        if not 0 <= int(index) < len(self.resolutions):
            raise ValueError(f"{self.name}: resolution index {index} is out of range for resolutions="
                             f"{self.resolutions}.")
        size = self.resolutions[int(index)]
        return keras.Model(self.inputs[int(index)], self.outputs[int(index)], name=f"classify_{size}")

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "block": self.block, "depths": self.depths,
                "channels": self.channels, "stem_width": self.stem_width, "resolutions": self.resolutions,
                "num_classes": self.num_classes, "in_channels": self.in_channels,
                "norm": self.norm, "shortcut_norm": self.shortcut_norm}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
