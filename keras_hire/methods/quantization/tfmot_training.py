"""`compress_with_tfmot(config)`: a standard-layer keras_hire model through TFMOT, trained on the run's data, to TFLite.

The Keras 3 model (from `train.init_checkpoint`, else freshly built) becomes its tf_keras twin; each
stage of the recipe (`tfmot_stages.recipe`) wraps it, trains `train.epochs` epochs on the shared data
pipeline (the same `train_stream`/`eval_stream` as `keras_hire.training.train`), and is stripped
before the next. One device, no `tf.distribute` strategy: TFMOT's wrappers train under tf_keras's own
`fit`. Resume: after each epoch the stage's model and optimizer go to a `tf.train.Checkpoint` in a
fresh folder, marked complete last; a restarted run rebuilds the finished stages from their final
checkpoints and continues the current one from its newest complete epoch.

Writes into `train.model_dir`: `model.tflite` (int8 after a QAT stage, else float32 with the pruned or
clustered weights), `model.keras` (the stripped weights back in the Keras 3 model, when no QAT stage
ran), `metrics.json` (per-stage history, accuracy of the tf_keras model and of the file, agreement,
sizes raw and gzipped, sparsity, distinct values per kernel, XNNPACK coverage).
"""

import json
import os
import shutil

from keras_hire.methods.quantization import tfmot_stages
from keras_hire.methods.quantization.compressed_file import held_out_images, write_checked_file
from keras_hire.methods.quantization.tf_keras_twin import load_tf_keras, to_tf_keras
from keras_hire.utils.atomic import atomic_write_json

COMPLETE = "complete"


def compress_with_tfmot(config):
    """Runs a `CompressConfig` through the TFMOT bridge; returns the metrics report dict.

    Example:
    ```python
    from keras_hire.methods.quantization import CompressConfig, compress_with_tfmot
    report = compress_with_tfmot(CompressConfig(train=TrainConfig(model="digits_cnn", epochs=2,
                                 init_checkpoint="runs/cnn/model.keras", model_dir="runs/cnn_qat"), qat=True))
    report["file"]["tflite_accuracy"]
    ```
    """
    from keras_hire.training.model_setup import build_model, load_initial_weights
    from keras_hire.training.run_data import prepare_data

    train = config.train
    run = prepare_data(train)
    model = build_model(train, run.train_source.num_classes, run.input_shape)
    if train.init_checkpoint:
        print(f"[keras_hire.tfmot] {load_initial_weights(model, train.init_checkpoint)}", flush=True)
    stages = tfmot_stages.recipe(config.qat, config.prune_sparsity, config.clusters)
    print(f"[keras_hire.tfmot] {model.name}: stages {' -> '.join(stages)}", flush=True)
    current, history = to_tf_keras(model), {}
    for index, stage in enumerate(stages):
        wrapped = tfmot_stages.wrap(stage, current, config.prune_sparsity, config.clusters,
                                    total_steps=train.epochs * run.steps_per_epoch)
        history[stage] = _train_stage(wrapped, stage, index, config, run)
        current = tfmot_stages.strip(stage, wrapped)
    images, labels = held_out_images(run, config.num_calibration)
    report = _export(current, model, stages, images, labels, train.model_dir)
    report.update(stages=stages, history=history, config=config.to_dict())
    atomic_write_json(os.path.join(train.model_dir, "metrics.json"), report)
    return report


def _train_stage(wrapped, stage, index, config, run):
    """Compiles and fits one stage with resume; returns its per-epoch history."""
    import tensorflow as tf

    tf_keras = load_tf_keras()
    train = config.train
    optimizer = tf_keras.optimizers.Adam(train.peak_learning_rate())
    wrapped.compile(optimizer=optimizer, metrics=["accuracy"],
                    loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True,
                                                                 label_smoothing=train.label_smoothing))
    stage_dir = os.path.join(train.model_dir, "tfmot", f"{index}_{stage}")
    checkpoint = tf.train.Checkpoint(model=wrapped, optimizer=optimizer)
    done, history = _restore(checkpoint, stage_dir)
    if done < train.epochs:
        print(f"[keras_hire.tfmot] stage {stage}: epochs {done + 1}..{train.epochs}", flush=True)
    for epoch in range(done, train.epochs):
        data_epoch = index * train.epochs + epoch  # every stage sees a new data order
        fitted = wrapped.fit(run.train_stream(train, data_epoch), epochs=1, steps_per_epoch=run.steps_per_epoch,
                             validation_data=run.eval_stream(train.batch_size, train.eval_steps),
                             callbacks=tfmot_stages.stage_callbacks(stage), verbose=train.verbose)
        history.append({"epoch": epoch + 1, **{k: float(v[-1]) for k, v in fitted.history.items()}})
        _save(checkpoint, stage_dir, epoch + 1, history)
    return history


def _save(checkpoint, stage_dir, epoch, history):
    """Writes epoch `epoch` into a new folder, marks it complete last, then removes the older folders."""
    folder = os.path.join(stage_dir, f"epoch_{epoch:04d}")
    shutil.rmtree(folder, ignore_errors=True)  # a half-written folder of a killed run
    checkpoint.write(os.path.join(folder, "ckpt"))
    atomic_write_json(os.path.join(folder, COMPLETE), {"epoch": epoch, "history": history})
    for name in os.listdir(stage_dir):
        if name.startswith("epoch_") and name != os.path.basename(folder):
            shutil.rmtree(os.path.join(stage_dir, name), ignore_errors=True)


def _restore(checkpoint, stage_dir):
    """Restores the newest complete epoch of a stage; returns `(epochs done, history)`."""
    if not os.path.isdir(stage_dir):
        return 0, []
    for name in sorted(os.listdir(stage_dir), reverse=True):
        marker = os.path.join(stage_dir, name, COMPLETE)
        if os.path.exists(marker):
            checkpoint.read(os.path.join(stage_dir, name, "ckpt")).expect_partial()
            with open(marker) as handle:
                state = json.load(handle)
            print(f"[keras_hire.tfmot] resumed {stage_dir} after epoch {state['epoch']}", flush=True)
            return state["epoch"], state["history"]
    return 0, []


def tflite_bytes(tf_keras_model, int8):
    """The converter on a tf_keras model at batch 1 (static shapes, as `keras_hire.export.to_tflite`):
    TFMOT's fake-quant ranges give int8 kernels with `int8`, else float32."""
    import tensorflow as tf

    spec = tf.TensorSpec((1,) + tuple(tf_keras_model.inputs[0].shape[1:]), tf.float32)
    function = tf.function(lambda images: tf_keras_model(images, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf_keras_model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # with no representative dataset: QAT's ranges
    return converter.convert()


def _export(final, keras_model, stages, images, labels, model_dir):
    """Writes model.tflite (and model.keras without QAT) and returns the file's facts."""
    from keras_hire.utils.atomic import atomic_save

    int8 = stages[-1] in tfmot_stages.QAT_STAGES
    flatbuffer = tflite_bytes(final, int8)
    facts = write_checked_file(flatbuffer, model_dir, "int8" if int8 else "float32", images, labels,
                               final.predict(images, batch_size=64, verbose=0), "keras_hire.tfmot")
    report = {"file": facts, "weights": tfmot_stages.file_weight_statistics(flatbuffer)}
    if not int8:  # pruned / clustered weights back in the Keras 3 model, which saves and exports as usual
        twins = {layer.name: layer for layer in final.layers}
        for layer in keras_model.layers:
            if layer.weights:
                layer.set_weights(twins[layer.name].get_weights())
        atomic_save(os.path.join(model_dir, "model.keras"), keras_model.save)
    return report
