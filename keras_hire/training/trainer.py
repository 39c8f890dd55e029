"""`train(config)`: the whole training run behind training/train.py, callable from Python."""

import os

import keras

from keras_hire.training.checkpoint import EpochCheckpoint, read_checkpoint_state, restore_checkpoint
from keras_hire.training.config import TrainConfig
from keras_hire.training.model_setup import build_model, compile_for_training, load_initial_weights
from keras_hire.training.reports import metrics_path, plot_training_curves, weights_digest, write_metrics
from keras_hire.training.strategy import is_chief, make_strategy, task_id
from keras_hire.training.sync import SyncNonTrainableVariables


def train(config: TrainConfig, strategy=None):
    """Trains (or with `eval_only`, evaluates) a registry model; returns the metrics report dict.

    A run whose `model_dir` holds a checkpoint resumes from it (model, optimizer, epoch, history
    and data order), so killing and restarting with the same config loses at most one epoch.
    Writes into `model_dir`: `checkpoints/`, `logs/` (TensorBoard), `model.keras` (final),
    `metrics.json` and `training_curves.png`.
    """
    strategy = strategy or make_strategy(config.strategy, config.tpu)  # first: multi-worker needs it
    previous_policy = keras.mixed_precision.global_policy()
    if config.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    try:
        return _train(config, strategy)
    finally:  # the policy is process-global; leave it as the caller had it
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(config, strategy):
    import dataclasses

    from keras_hire import data

    keras.utils.set_random_seed(config.seed)
    chief, task = is_chief(), task_id()
    _log(f"strategy {type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s), task {task}")

    train_source = data.get_source(config.dataset, config.train_split, config.data_dir)
    eval_split = config.eval_split or data.eval_split_name(config.dataset, config.data_dir)
    eval_source = data.get_source(config.dataset, eval_split, config.data_dir)
    size = config.image_size or (train_source.native_size or (224, 224))[0]
    image_size = (size, size)
    channels = config.channels or train_source.channels
    steps = config.steps_per_epoch or data.steps_per_epoch(train_source, config.batch_size)

    checkpoint_dir = os.path.join(config.model_dir, "checkpoints")
    with strategy.scope():
        model = build_model(config, train_source.num_classes, image_size + (channels,))
        compile_for_training(model, config, steps)
        state = read_checkpoint_state(checkpoint_dir)
        if state is not None:
            restore_checkpoint(model, checkpoint_dir, state)
            _log(f"resuming from {checkpoint_dir} after epoch {state['epoch']}")
        elif config.init_checkpoint:
            _log(load_initial_weights(model, config.init_checkpoint))
    start_epoch = state["epoch"] if state else 0
    history = state["history"] if state else []
    config_dict = dataclasses.asdict(config)
    report_path = metrics_path(config.model_dir, chief, task)

    eval_stream = data.eval_dataset(eval_source, image_size, config.batch_size, channels=channels)
    if config.eval_only:
        if state is None and not config.init_checkpoint:
            raise ValueError(f"eval_only needs a checkpoint in {checkpoint_dir} or an init_checkpoint.")
    elif start_epoch < config.epochs:
        augment = data.AugmentConfig(
            random_resized_crop=config.random_resized_crop, flip=config.flip,
            randaugment_ops=config.randaugment_ops, random_erasing=config.random_erasing,
            mixup=config.mixup, cutmix=config.cutmix,
        )
        train_stream = data.train_dataset(train_source, image_size, config.batch_size, seed=config.seed,
                                          start_epoch=start_epoch, augment=augment, channels=channels,
                                          epoch_steps=steps)

        def on_commit(records):
            write_metrics(report_path, config_dict, records)
            if chief:
                plot_training_curves(os.path.join(config.model_dir, "training_curves.png"), records)

        checkpoint = EpochCheckpoint(checkpoint_dir, history, write=chief, on_commit=on_commit)
        # BatchNorm statistics are averaged over replicas first, so the checkpoint is the shared model.
        callbacks = [SyncNonTrainableVariables(strategy), checkpoint]
        if config.tensorboard and chief:
            if _tensorboard_installed():
                callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.model_dir, "logs")))
            else:
                _log("TensorBoard logs skipped: pip install 'tensorboard>=2.21,<2.22' to write them")
        model.fit(train_stream, epochs=config.epochs, initial_epoch=start_epoch, steps_per_epoch=steps,
                  validation_data=eval_stream, validation_steps=config.eval_steps, callbacks=callbacks,
                  verbose=config.verbose, shuffle=False)  # the stream is already shuffled per epoch
        history = checkpoint.history
    else:
        _log(f"all {config.epochs} epochs already done in {config.model_dir}; evaluating")

    final = model.evaluate(eval_stream, steps=config.eval_steps, return_dict=True, verbose=0)
    final = {key: float(value) for key, value in final.items()}
    _log("eval " + ", ".join(f"{key} {value:.4f}" for key, value in sorted(final.items())))
    extra = {"eval_split": eval_split, "train_examples": train_source.num_examples,
             "eval_examples": eval_source.num_examples, "skipped_files": len(train_source.skipped) + len(eval_source.skipped),
             "weights_digest": weights_digest(model), "task": task, "epochs_done": len(history)}
    if chief and not config.eval_only:
        from keras_hire.export.atomic import atomic_save

        final_path = os.path.join(config.model_dir, "model.keras")
        atomic_save(final_path, model.save)
        extra["model_path"] = final_path
    report = write_metrics(report_path, config_dict, history, final, extra)
    if chief and history:
        plot_training_curves(os.path.join(config.model_dir, "training_curves.png"), history)
    return report


def _tensorboard_installed():
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _log(message):
    print(f"[keras_hire.training] {message}", flush=True)
