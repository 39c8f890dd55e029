"""One candidate's proxy training on the shared trainer, and the atomic record of every finished trial."""

import importlib
import json
import os
import time

from keras_hire.utils.atomic import atomic_write_json

RECORD = "trial.json"


def trial_dir(config, step, key):
    return os.path.join(config.train.model_dir, "search", f"step_{step:02d}", key)


def read_record(config, step, key):
    """The finished trial's record, or None (a trial that was killed has none and is rerun, resuming)."""
    path = os.path.join(trial_dir(config, step, key), RECORD)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def training_config(config, state, model_dir, epochs, seed=None, eval_split=None):
    """The shared trainer's config for `state`: the run's data and optimizer, the state's GhostNet."""
    train = config.train
    return train.replace(
        model=config.base, model_kwargs={**(train.model_kwargs or {}), **state.model_kwargs()},
        image_size=state.resolution, epochs=epochs, model_dir=model_dir,
        seed=train.seed if seed is None else seed, eval_split=eval_split or train.eval_split, tensorboard=False)


def trial_function(config):
    """The configured `fn(config, step, key, state, num_classes) -> record` (default: `run_trial`)."""
    module, _, name = config.trial_function.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"EnlargeConfig.trial_function={config.trial_function!r}: cannot import it ({error}). "
                         "Fix: pass a dotted path module.function, or leave the default.") from error


def write_record(config, step, key, state, num_classes, accuracy, **extra):
    """Records a finished trial atomically: what the search reads to pick, and to skip it on resume."""
    record = {"step": step, "key": key, "state": state.to_dict(), "macs": state.macs(num_classes),
              "accuracy": float(accuracy), "pid": os.getpid(), **extra}
    atomic_write_json(os.path.join(trial_dir(config, step, key), RECORD), record)
    return record


def run_trial(config, step, key, state, num_classes):
    """Trains `state` for `proxy_epochs` (resuming a killed trial) and records the result atomically."""
    import keras

    from keras_hire.training import train

    record = read_record(config, step, key)
    if record is not None:
        return record
    directory = trial_dir(config, step, key)
    started = time.time()
    keras.backend.clear_session()  # trainings in one process: free the previous graph
    report = train(training_config(config, state, directory, config.proxy_epochs))
    return write_record(config, step, key, state, num_classes, report["final"]["accuracy"],
                        loss=float(report["final"]["loss"]), seconds=round(time.time() - started, 1))
