"""Building, compiling and initialising a registry model for training."""


import keras

from keras_hire.training.schedule import WarmupCosine
from keras_hire.utils.keras_files import check_input_file, load_keras_file


def build_model(config, num_classes, input_shape):
    """`create_model(config.model, ...)` with the run's classes, input shape and overrides."""
    from keras_hire.models import create_model

    kwargs = dict(num_classes=num_classes, input_shape=tuple(input_shape))
    if config.drop_path_rate:
        kwargs["drop_path_rate"] = config.drop_path_rate
    kwargs.update(config.model_kwargs or {})
    return create_model(config.model, **kwargs)


def compile_for_training(model, config, steps_per_epoch, extra_metrics=(), num_classes=None):
    """AdamW on a warmup + cosine schedule, label-smoothed cross-entropy, top-1 (and top-5) accuracy.

    `extra_metrics` are appended to the metrics (a plugged-in method's own). `num_classes` decides
    whether top-5 is reported (default: the model's output width, for functional models).

    Weight decay skips 1-D variables (biases, norm scales and shifts), as timm does.
    """
    total = max(config.epochs * steps_per_epoch, 1)
    warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total)
    schedule = WarmupCosine(config.peak_learning_rate(), total, warmup, config.warmup_learning_rate,
                            config.min_learning_rate)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) <= 1])
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if (num_classes or model.outputs[0].shape[-1]) > 5:
        metrics.append(_Float32TopK(5, name="top5"))
    metrics += list(extra_metrics)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
        metrics=metrics,
        jit_compile=config.jit_compile,
    )
    return model


def load_initial_weights(model, path):
    """Initialises `model` from a `.keras` file or an official PyTorch checkpoint.

    `.keras`: weights of layers with the same name and shapes are copied; a classifier of another
    size is left freshly initialised. `.pth`/`.pt`/`.npz`/`.safetensors`: mapped by rule with
    `keras_hire.convert.load_pytorch_weights`, skipping the classifier (`CLASSIFIER_NAMES`) if the class count differs.
    Returns a one-line summary.
    """
    check_input_file(path, "init_checkpoint")
    if path.endswith(".keras"):
        source = load_keras_file(path, "init_checkpoint")
        source_layers = {layer.name: layer for layer in source.layers}
        copied, skipped = 0, []
        for layer in model.layers:
            other = source_layers.get(layer.name)
            if other is None or not layer.weights:
                continue
            if [tuple(w.shape) for w in layer.weights] == [tuple(w.shape) for w in other.weights]:
                layer.set_weights(other.get_weights())
                copied += 1
            else:
                skipped.append(layer.name)
        if copied == 0:
            raise ValueError(f"No layer of {path} matches {model.name} by name and shape; is it the same family?")
        return f"copied {copied} layers from {path}" + (f"; kept fresh: {', '.join(skipped)}" if skipped else "")
    from keras_hire.convert import load_pytorch_weights, read_state_dict

    state = read_state_dict(path)
    num_classes = model.outputs[0].shape[-1]
    skip = tuple(f"{head}." for head in CLASSIFIER_NAMES
                 if f"{head}.weight" in state and state[f"{head}.weight"].shape[0] != num_classes)
    loaded = load_pytorch_weights(model, state, skip=skip)
    fresh = " (classifier left fresh: class count differs)" if skip else ""
    return f"loaded {len(loaded)} tensors from {path}{fresh}"


# The official names of classifier layers (timm's ViT/CMT/Hire-MLP heads, torchvision/timm ResNet's fc,
# GhostNet's classifier): left fresh when a checkpoint has another class count.
CLASSIFIER_NAMES = ("head", "head_dist", "fc", "classifier")


class _Float32TopK(keras.metrics.TopKCategoricalAccuracy):
    """Top-k accuracy that accepts bfloat16/float16 logits (TF's in_top_k takes float32 only)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, keras.ops.cast(y_pred, "float32"), sample_weight)
