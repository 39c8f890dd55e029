"""`compress(config)`: QAT, pruning and clustering of a registry model, through TFMOT.

Standard-layer models (ResNet, GhostNet, the digits and FedPU CNNs, CIFAR ResNets) go through the TFMOT
bridge (`compress_with_tfmot`). Models with keras_hire's own layers (ViT/DeiT/CaiT/Aug-ViT, Hire-MLP,
CMT) need the native Keras 3 QAT, which is not built yet: they get an error saying so and what works
for them today (`quantize_vit` + `export_int8`, the dynamic-range file).
"""

from keras_hire.methods.quantization.tf_keras_twin import custom_layers


def choose_path(config):
    """`"tfmot"` or `"native"` for a `CompressConfig`: `config.path`, or with `auto` what the model allows."""
    if config.path != "auto":
        return config.path
    from keras_hire.training.model_setup import build_model
    from keras_hire.training.run_data import prepare_data

    run = prepare_data(config.train)
    custom = custom_layers(build_model(config.train, run.train_source.num_classes, run.input_shape))
    if not custom:
        return "tfmot"
    if config.prune_sparsity or config.clusters:
        names = ", ".join(sorted({cls for _, cls in custom}))
        raise ValueError(f"{config.train.model}: pruning and clustering come from TFMOT, which cannot take its "
                         f"custom layers ({names}). Fix: drop --prune_sparsity/--clusters (native QAT alone "
                         "applies), or compress a standard-layer model (ResNet, GhostNet, digits_cnn).")
    return "native"


def compress(config):
    """Runs a `CompressConfig` on the path `choose_path` picks; returns the metrics report dict.

    Example:
    ```python
    report = compress(CompressConfig(train=TrainConfig(model="resnet18", init_checkpoint="runs/r18/model.keras",
                                                       model_dir="runs/r18_qat", epochs=2), qat=True))
    ```
    """
    path = choose_path(config)
    print(f"[keras_hire.compress] {config.train.model}: {path} path", flush=True)
    if path == "tfmot":
        from keras_hire.methods.quantization.tfmot_training import compress_with_tfmot

        return compress_with_tfmot(config)
    raise NotImplementedError(
        f"{config.train.model}: native Keras 3 QAT (for models with keras_hire's own layers) is not built yet "
        "(issue 18, part 2; docs/qat.md). What works today: post-training int8 with searched scales "
        "(tflite/quantize.py, PTQ for ViT) or the dynamic-range file (tflite/export.py --quantizations=dynamic); "
        "QAT, pruning and clustering through TFMOT for standard-layer models (ResNet, GhostNet, digits_cnn).")
