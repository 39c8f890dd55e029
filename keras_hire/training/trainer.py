"""`train(config)`: the whole training run behind training/train.py, callable from Python.

A method plugs in without copying the run: `build_model` supplies the model to fit (a distiller
wrapping student and teacher, a model with its own `train_step` or `compute_loss`), `callbacks`
and `metrics` add to the shared ones, and `deployable` picks the model saved as `model.keras`
(e.g. the student). Resume, strategies, mixed precision, BatchNorm sync, reports, curves and
TensorBoard stay the trainer's.
"""

import os

import keras

from keras_hire.data.class_list import write_class_list
from keras_hire.training.checkpoint import (
    EpochCheckpoint,
    check_identity,
    read_checkpoint_state,
    restore_checkpoint,
)
from keras_hire.training.config import TrainConfig
from keras_hire.training.model_setup import build_model as build_registry_model
from keras_hire.training.model_setup import compile_for_training, load_initial_weights
from keras_hire.training.reports import metrics_path, plot_training_curves, weights_digest, write_metrics
from keras_hire.training.run_data import prepare_data
from keras_hire.training.strategy import is_chief, make_strategy, task_id
from keras_hire.training.sync import SyncNonTrainableVariables
from keras_hire.utils.atomic import atomic_save, atomic_write_text
from keras_hire.utils.paths import check_writable_dir


def train(config: TrainConfig, strategy=None, *, build_model=None, callbacks=(), metrics=(), deployable=None):
    """Trains (or with `eval_only`, evaluates) a model; returns the metrics report dict.

    A run whose `model_dir` holds a checkpoint resumes from it (model, optimizer, epoch, history
    and data order), so killing and restarting with the same config loses at most one epoch.
    Writes into `model_dir`: `config.json`, `classes.json` (the training split's classes),
    `checkpoints/`, `logs/` (TensorBoard), `model.keras` (final), `metrics.json` and
    `training_curves.png`.

    Args:
        config: the run's `TrainConfig`.
        strategy: a `tf.distribute.Strategy` (default: `make_strategy(config.strategy)`).
        build_model: `build_model(config, num_classes, input_shape)` returning the `keras.Model` to
            fit, called inside the strategy scope (default: the registry model `config.model`). It is
            compiled with the run's optimizer, loss and metrics; override `compute_loss` or
            `train_step` in it to train differently. Its weights are what checkpoints hold.
        callbacks: extra Keras callbacks, run after the trainer's own.
        metrics: extra compile metrics: names, or zero-argument factories called inside the scope.
        deployable: `deployable(model)` returning the model saved as `model.keras` (default: the
            fitted model itself), e.g. `lambda distiller: distiller.student`.

    Example:
    ```python
    report = keras_hire.training.train(TrainConfig(model="hire_mlp_tiny", epochs=2, model_dir="runs/a"))
    report["final"]["accuracy"]
    ```
    """
    strategy = strategy or make_strategy(config.strategy, config.tpu)  # first: multi-worker needs it
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    plug = dict(build_model=build_model or build_registry_model, callbacks=list(callbacks), metrics=list(metrics),
                deployable=deployable or (lambda model: model))
    try:
        return _run(config, strategy, plug)
    finally:  # the policy is process-global; leave it as the caller had it
        keras.mixed_precision.set_global_policy(previous_policy)


def _run(config, strategy, plug):
    keras.utils.set_random_seed(config.seed)
    chief, task = is_chief(), task_id()
    if chief and not config.eval_only:
        check_writable_dir(config.model_dir, "model_dir")
    _log(f"strategy {type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s), task {task}")
    run = prepare_data(config)
    # One pipeline for the per-epoch and the final evaluation; eval_steps caps it to a balanced subset.
    eval_stream = run.eval_stream(config.batch_size, config.eval_steps, config.seed)
    model, state = _prepare_model(config, strategy, run, plug)
    history = state["history"] if state else []
    start_epoch = state["epoch"] if state else 0
    if chief and not config.eval_only:
        os.makedirs(config.model_dir, exist_ok=True)
        atomic_write_text(os.path.join(config.model_dir, "config.json"), config.to_json())
        write_class_list(config.model_dir, run.train_source)
    if config.eval_only:
        if state is None and not config.init_checkpoint:
            raise ValueError(f"eval_only needs a checkpoint in {_checkpoint_dir(config)} or an init_checkpoint.")
    elif start_epoch < config.epochs:
        history = _fit(config, strategy, model, run, eval_stream, start_epoch, history, plug)
    else:
        _log(f"all {config.epochs} epochs already done in {config.model_dir}; evaluating")
    return _report(config, model, run, eval_stream, history, plug)


def _checkpoint_dir(config):
    return os.path.join(config.model_dir, "checkpoints")


def _identity(config, run):
    """What a checkpoint of this run is of; a resume must build the same."""
    import json

    return {"model": config.model, "model_kwargs": json.loads(json.dumps(config.model_kwargs or {})),
            "input_shape": list(run.input_shape), "num_classes": run.train_source.num_classes}


def _prepare_model(config, strategy, run, plug):
    """The compiled model, restored from the run's checkpoint or initialised from `init_checkpoint`."""
    checkpoint_dir = _checkpoint_dir(config)
    with strategy.scope():
        model = plug["build_model"](config, run.train_source.num_classes, run.input_shape)
        if not model.built:  # a subclassed plug-in: its variables must exist before a checkpoint loads
            model(keras.ops.zeros((1,) + run.input_shape), training=False)
        extra_metrics = [metric() if callable(metric) and not isinstance(metric, keras.metrics.Metric) else metric
                         for metric in plug["metrics"]]
        compile_for_training(model, config, run.steps_per_epoch, extra_metrics, run.train_source.num_classes)
        state = read_checkpoint_state(checkpoint_dir)
        if state is not None:
            check_identity(checkpoint_dir, state, _identity(config, run))
            state = restore_checkpoint(model, checkpoint_dir, state)
            _log(f"resuming from {checkpoint_dir} after epoch {state['epoch']}")
        elif config.init_checkpoint:
            _log(load_initial_weights(plug["deployable"](model), config.init_checkpoint))
    return model, state


def _fit(config, strategy, model, run, eval_stream, start_epoch, history, plug):
    """Fits from `start_epoch` to `config.epochs`; returns the full per-epoch history."""
    chief, task = is_chief(), task_id()
    report_path = metrics_path(config.model_dir, chief, task)

    def on_commit(records):
        write_metrics(report_path, config.to_dict(), records)
        if chief:
            plot_training_curves(os.path.join(config.model_dir, "training_curves.png"), records)

    checkpoint = EpochCheckpoint(_checkpoint_dir(config), history, write=chief, on_commit=on_commit,
                                 identity=_identity(config, run))
    # BatchNorm statistics are averaged over replicas first, so the checkpoint is the shared model.
    callbacks = [SyncNonTrainableVariables(strategy), checkpoint]
    if config.tensorboard and chief:
        if _tensorboard_installed():
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs")))
        else:
            _log("TensorBoard logs skipped: pip install 'tensorboard>=2.20,<2.22' to write them")
    model.fit(run.train_stream(config, start_epoch), epochs=config.epochs, initial_epoch=start_epoch,
              steps_per_epoch=run.steps_per_epoch, validation_data=eval_stream,
              validation_steps=config.eval_steps, callbacks=callbacks + plug["callbacks"], verbose=config.verbose,
              shuffle=False)  # the stream is already shuffled per epoch
    return checkpoint.history


def _report(config, model, run, eval_stream, history, plug):
    """Final evaluation, `model.keras` (the deployable model) and `metrics.json`; returns the report."""
    chief, task = is_chief(), task_id()
    final = model.evaluate(eval_stream, steps=config.eval_steps, return_dict=True, verbose=0)
    final = {key: float(value) for key, value in final.items()}
    _log("eval " + ", ".join(f"{key} {value:.4f}" for key, value in sorted(final.items())))
    extra = {"eval_split": run.eval_split, "train_examples": run.train_source.num_examples,
             "eval_examples": run.eval_source.num_examples,
             "skipped_files": len(run.train_source.skipped) + len(run.eval_source.skipped),
             "weights_digest": weights_digest(model), "task": task, "epochs_done": len(history)}
    if chief and not config.eval_only:
        final_path = os.path.join(config.model_dir, "model.keras")
        atomic_save(final_path, plug["deployable"](model).save)
        extra["model_path"] = final_path
    report = write_metrics(metrics_path(config.model_dir, chief, task), config.to_dict(), history, final, extra)
    if chief and history:
        plot_training_curves(os.path.join(config.model_dir, "training_curves.png"), history)
    return report


def _tensorboard_installed():
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _log(message):
    print(f"[keras_hire.training] {message}", flush=True)
