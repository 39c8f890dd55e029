"""A pyramid backbone cut after each stage: the prefixes the stage-level benchmarks time and count."""

import keras


def stage_prefixes(model):
    """`[(stage, model up to that stage's output)]` for every `model.pyramid_outputs`, then `("head", model)`."""
    if not getattr(model, "pyramid_outputs", None):
        raise ValueError(f"{model.name} has no pyramid_outputs to cut it at; stage benchmarks need a pyramid "
                         "backbone (e.g. hire_mlp_small, cmt_small).")
    prefixes = [(stage, keras.Model(model.inputs, output)) for stage, output in model.pyramid_outputs.items()]
    return prefixes + [("head", model)]


def stage_shapes_and_macs(model):
    """`[(stage, (H, W, C), MACs of the stage)]`, the head's MACs counted with the last stage."""
    from keras_hire.utils import count_macs

    prefixes = stage_prefixes(model)
    cumulative = [count_macs(prefix) for _, prefix in prefixes]
    cumulative[-1] = cumulative.pop()  # the head's MACs join the last stage
    return [(stage, tuple(prefix.output.shape[1:]), macs - previous)
            for (stage, prefix), macs, previous in zip(prefixes, cumulative, [0] + cumulative[:-1])]
