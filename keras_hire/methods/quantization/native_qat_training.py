"""`compress_natively(config)`: native Keras 3 QAT of any registry model on the shared trainer, to int8 TFLite.

The float model (`train.init_checkpoint`, else freshly built) is prepared with `prepare_native_qat`
(ranges from `num_calibration` training images, or with `qat_init="ptq"` from the PTQ-for-ViT
search), then fitted by `keras_hire.training.train`: strategies, mixed precision, resume (the ranges
are model variables, so checkpoints hold them), reports and curves stay the trainer's. A resumed run
restores the ranges from its checkpoint and skips the calibration and the search.

Writes into `train.model_dir`, besides the trainer's files: `model.keras` (the trained weights in the
float model, which exports like any other), `model.tflite` (int8, every product an int8 kernel with its
trained ranges, checked against the QAT model), `qat_ranges.json`, and `metrics.json` with the
trainer's report plus the file's facts.
"""

import dataclasses
import os

from keras_hire.methods.quantization.compressed_file import held_out_images, write_checked_file
from keras_hire.methods.quantization.native_qat import (
    export_native_qat,
    prepare_native_qat,
    qat_products,
    qat_ranges,
    strip_native_qat,
)
from keras_hire.utils.atomic import atomic_write_json


def compress_natively(config, strategy=None):
    """Runs a `CompressConfig` (QAT only) through native Keras 3 QAT; returns the metrics report dict.

    `strategy`: the `tf.distribute` strategy to train under (default: `make_strategy` of the train config,
    made before anything else, as a multi-worker strategy must be).

    Example:
    ```python
    from keras_hire.methods.quantization import CompressConfig, compress_natively
    report = compress_natively(CompressConfig(train=TrainConfig(model="deit_tiny", epochs=2, model_dir="runs/q",
                                                                init_checkpoint="runs/deit/model.keras"), qat=True))
    report["file"]["tflite_accuracy"]
    ```
    """
    from keras_hire.data.pipeline import eval_arrays
    from keras_hire.training import read_checkpoint_state, train
    from keras_hire.training.run_data import prepare_data
    from keras_hire.training.strategy import is_chief

    if not config.qat:
        raise ValueError("compress_natively: the native path does QAT only. Fix: pass --qat (pruning and clustering "
                         "are TFMOT's: --path=tfmot on a standard-layer model).")
    from keras_hire.training.strategy import make_strategy

    run_config = config.train
    strategy = strategy or make_strategy(run_config.strategy, run_config.tpu)
    run = prepare_data(run_config)
    resuming = read_checkpoint_state(os.path.join(run_config.model_dir, "checkpoints")) is not None
    calibration = None
    intervals = None
    if not resuming:
        calibration, _ = eval_arrays(run.train_source, run.image_size, run.channels, limit=config.num_calibration,
                                     crop_fraction=run.crop_fraction, shuffle_seed=run_config.seed)
        if config.qat_init == "ptq":
            intervals = _ptq_intervals(config, run, calibration, is_chief())
    trained = {}

    def build(train_config, num_classes, input_shape):
        model = _float_model(config, num_classes, input_shape)
        images = calibration if calibration is not None else _zeros(input_shape)  # resumed: the checkpoint's ranges
        qat = prepare_native_qat(model, images, init=config.qat_init if intervals else "minmax",
                                 ptq_intervals=intervals)
        _log(f"{model.name}: {len(qat_products(qat))} Dense/Conv2D/DepthwiseConv2D layers fake-quantized"
             + ("" if resuming else f", ranges from {config.qat_init}"))
        trained["model"] = qat
        return qat

    def deployable(qat):
        return strip_native_qat(qat, _float_model(config, run.train_source.num_classes, run.input_shape, log=False))

    # init_checkpoint is loaded by `build` into the float model, before the QAT layers exist.
    report = train(dataclasses.replace(run_config, init_checkpoint=None), build_model=build, deployable=deployable,
                   strategy=strategy)
    if not is_chief():
        return report
    qat = trained["model"]
    images, labels = held_out_images(run, config.num_calibration)
    report["file"] = write_checked_file(export_native_qat(qat), run_config.model_dir, "int8", images, labels,
                                        _local_outputs(qat, images), "keras_hire.native_qat")
    report["compress_config"] = config.to_dict()
    ranges = qat_ranges(qat)
    report["qat"] = {"init": config.qat_init, "layers": len(ranges)}
    atomic_write_json(os.path.join(run_config.model_dir, "qat_ranges.json"), ranges)
    atomic_write_json(os.path.join(run_config.model_dir, "metrics.json"), report)
    return report


def _float_model(config, num_classes, input_shape, log=True):
    from keras_hire.training.model_setup import build_model, load_initial_weights

    model = build_model(config.train, num_classes, input_shape)
    if config.train.init_checkpoint:
        summary = load_initial_weights(model, config.train.init_checkpoint)
        if log:
            _log(summary)
    return model


def _ptq_intervals(config, run, calibration, chief):
    """The 8-bit PTQ-for-ViT intervals of the float model (resumable search state in the run's folder)."""
    from keras_hire.methods.quantization.ptq_vit import quantize_vit

    model = _float_model(config, run.train_source.num_classes, run.input_shape, log=False)
    state_path = os.path.join(config.train.model_dir, "ptq_search_state.json") if chief else None
    os.makedirs(config.train.model_dir, exist_ok=True)
    _log(f"searching 8-bit PTQ-for-ViT intervals on {len(calibration)} images")
    try:
        result = quantize_vit(model, calibration, bits=8, state_path=state_path,
                              progress=lambda line: _log(f"ptq {line}"))
    except ValueError as error:
        raise ValueError(f"{config.train.model}: qat_init='ptq' starts from the PTQ-for-ViT search, which failed: "
                         f"{error} Fix: --qat_init=minmax (any model).") from error
    return result.intervals


def _local_outputs(model, images, batch_size=64):
    """`model`'s outputs on `images`, called batch by batch in this process: `predict` under a
    multi-worker strategy is a collective, and the other workers have returned by now."""
    import keras
    import numpy as np

    parts = [model(images[i:i + batch_size], training=False) for i in range(0, len(images), batch_size)]
    return np.concatenate([keras.ops.convert_to_numpy(part) for part in parts])


def _zeros(input_shape):
    import numpy as np

    return np.zeros((1,) + tuple(input_shape), np.float32)


def _log(message):
    print(f"[keras_hire.native_qat] {message}", flush=True)

