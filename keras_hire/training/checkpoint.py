"""Per-epoch checkpoints with atomic writes, and resuming from the last one.

Layout in `<model_dir>/checkpoints/`: `epoch-0003.weights.h5` (model and optimizer state, Keras
format) and `state.json`, the commit point: `{"epoch": 3, "weights": "epoch-0003.weights.h5",
"history": [...]}`. Each file is written to a temporary name and renamed, `state.json` last, and
older weight files are removed only after it, so a process killed at any instant leaves a
consistent checkpoint and loses at most the epoch in progress.
"""

import json
import os
import time

import keras

from keras_hire.utils.atomic import atomic_save, atomic_write_json

STATE_FILE = "state.json"


def read_checkpoint_state(directory):
    """The committed state dict of `directory`, or `None` when there is no checkpoint yet."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        state = json.load(handle)
    weights = os.path.join(directory, state["weights"])
    if not os.path.exists(weights):
        raise FileNotFoundError(
            f"{path} points to {weights}, which is missing. Delete {directory} to start over."
        )
    return state


def restore_checkpoint(model, directory, state):
    """Loads the model and optimizer state of a committed checkpoint into a compiled `model`."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(directory, state["weights"]))


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer state after every epoch and keeps the run's history.

    Args:
        directory: the checkpoint folder.
        history: the list of per-epoch records so far (from a resumed state, or empty).
        write: whether this process writes files (only the chief does in multi-worker runs).
        keep: how many weight files to keep.
        on_commit: called with the history after each committed epoch (reports, curves).
    """

    def __init__(self, directory, history, write=True, keep=2, on_commit=None):
        super().__init__()
        self.directory = directory
        self.history = list(history)
        self.write = write
        self.keep = keep
        self.on_commit = on_commit
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "seconds": round(time.time() - (self._epoch_start or time.time()), 2),
                  "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        record.update({key: float(value) for key, value in (logs or {}).items() if key != "learning_rate"})
        self.history.append(record)
        if self.write:
            name = f"epoch-{epoch + 1:04d}.weights.h5"
            atomic_save(os.path.join(self.directory, name), self.model.save_weights)
            atomic_write_json(os.path.join(self.directory, STATE_FILE),
                              {"epoch": epoch + 1, "weights": name, "history": self.history})
            self._remove_old(name)
        if self.on_commit is not None:
            self.on_commit(self.history)

    def _remove_old(self, current):
        files = sorted(f for f in os.listdir(self.directory) if f.startswith("epoch-") and f.endswith(".weights.h5"))
        for name in files[:-self.keep]:
            if name != current:
                os.remove(os.path.join(self.directory, name))
