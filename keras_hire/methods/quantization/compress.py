"""`compress(config)`: QAT, pruning and clustering of a registry model, through TFMOT or natively.

Standard-layer models (ResNet, GhostNet, the digits and FedPU CNNs, CIFAR ResNets) go through the TFMOT
bridge (`compress_with_tfmot`: QAT, pruning, clustering). Models with keras_hire's own layers
(ViT/DeiT/CaiT/Aug-ViT, Hire-MLP, CMT) go through native Keras 3 QAT (`compress_natively`), which
takes any model and any `tf.distribute` strategy but does QAT only.
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
    from keras_hire.training.strategy import make_strategy

    # Before choose_path builds a model: a multi-worker strategy must exist before any other TF op runs.
    strategy = make_strategy(config.train.strategy, config.train.tpu)
    path = choose_path(config)
    print(f"[keras_hire.compress] {config.train.model}: {path} path", flush=True)
    if path == "tfmot":
        from keras_hire.methods.quantization.tfmot_training import compress_with_tfmot

        return compress_with_tfmot(config)
    from keras_hire.methods.quantization.native_qat_training import compress_natively

    return compress_natively(config, strategy=strategy)
