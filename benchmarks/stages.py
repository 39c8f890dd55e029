"""A pyramid backbone cut after each stage: the prefixes the stage-level benchmarks time and count."""

import keras


def stage_prefixes(model):
    """`[(stage, model up to that stage's output)]` for every `model.pyramid_outputs`, then `("head", model)`."""
    prefixes = [(stage, keras.Model(model.inputs, output)) for stage, output in model.pyramid_outputs.items()]
    return prefixes + [("head", model)]
