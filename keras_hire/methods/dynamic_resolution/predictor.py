"""The resolution predictor of DRNet: a ResNet with one basic block per stage on a small copy."""

from keras_hire.models.resnet import ResNet


def resolution_predictor(num_resolutions, input_size=128, channels=(64, 128, 256, 512), stem_width=64,
                         in_channels=3, name="predictor"):
    """The official predictor (MindSpore `predictor.py`): BasicBlocks `[1, 1, 1, 1]`, widths
    64/128/256/512, 7x7 stride-2 stem and max pool, global pool, FC to `num_resolutions` logits;
    on a `input_size`x`input_size` copy of the image (128: ~0.29 GMACs). Narrower `channels`
    suit small data."""
    if int(num_resolutions) < 2:
        raise ValueError(f"resolution_predictor: needs at least 2 resolutions to choose from; "
                         f"received {num_resolutions}.")
    return ResNet(block="basic", depths=(1, 1, 1, 1), channels=channels, stem_width=stem_width,
                  num_classes=int(num_resolutions), input_shape=(int(input_size), int(input_size), int(in_channels)),
                  name=name)
