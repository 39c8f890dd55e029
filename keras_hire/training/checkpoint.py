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
from keras_hire.utils.paths import check_free_space

STATE_FILE = "state.json"


def read_checkpoint_state(directory):
    """The committed state dict of `directory`, or `None` when there is no checkpoint yet."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            state = json.load(handle)
        weights = os.path.join(directory, state["weights"])
        int(state["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is corrupt ({_first_line(error)}); it is written atomically, so something else "
                         f"changed it. Fix: restore it from a backup, or delete {directory} to start over.") from error
    if not os.path.exists(weights):
        raise FileNotFoundError(
            f"{path} points to {weights}, which is missing. Delete {directory} to start over."
        )
    return state


def check_identity(directory, state, identity):
    """A resume must rebuild the model the checkpoint holds; otherwise say which two differ."""
    stored = state.get("identity")
    if stored is None or identity is None or stored == identity:
        return
    differences = ", ".join(f"{key} {stored.get(key)!r} (checkpoint) vs {identity.get(key)!r} (this run)"
                            for key in sorted(set(stored) | set(identity)) if stored.get(key) != identity.get(key))
    raise ValueError(f"{directory} holds a checkpoint of another model: {differences}. Fix: pass the "
                     "checkpoint's --model/--model_kwargs to resume it, or another --model_dir to start afresh.")


def restore_checkpoint(model, directory, state):
    """Loads the model and optimizer state of a committed checkpoint into a compiled `model`.

    A newest weight file that cannot be read (truncated or corrupted after it was committed) is
    passed over, with a warning, for the previous epoch's file, which is kept for this. Returns the
    state actually restored (its `epoch` and `history` end at the restored epoch).
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    candidates = [state] + _previous_states(directory, state)
    for index, candidate in enumerate(candidates):
        path = os.path.join(directory, candidate["weights"])
        try:
            model.load_weights(path)
        except (OSError, ValueError, KeyError) as error:
            if _is_shape_mismatch(error):
                raise ValueError(f"{path} does not fit this model ({_first_line(error)}). Fix: resume with the "
                                 "checkpoint's --model/--model_kwargs, or use another --model_dir.") from error
            later = candidates[index + 1:]
            fallback = f"; falling back to {later[0]['weights']}" if later else ""
            print(f"[keras_hire.training] WARNING: cannot read {path} ({_first_line(error)}){fallback}", flush=True)
            continue
        return candidate
    raise ValueError(f"No readable checkpoint in {directory}: every weight file is corrupt. "
                     f"Fix: delete {directory} to start over.")


def _previous_states(directory, state):
    """The older weight files still on disk, newest first, as states with the history cut to them."""
    states = []
    for name in sorted(os.listdir(directory), reverse=True):
        if not (name.startswith("epoch-") and name.endswith(".weights.h5")) or name == state["weights"]:
            continue
        epoch = int(name[len("epoch-"):-len(".weights.h5")])
        if epoch < state["epoch"]:
            history = [record for record in state.get("history", []) if record.get("epoch", 0) <= epoch]
            states.append(dict(state, epoch=epoch, weights=name, history=history))
    return states


def _checkpoint_bytes(model):
    """About what `save_weights` writes: every model and optimizer variable, plus HDF5 overhead."""
    import numpy as np

    variables = list(model.variables) + (list(model.optimizer.variables) if model.optimizer is not None else [])
    payload = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    return int(payload * 1.1) + (1 << 20)


def _is_shape_mismatch(error):
    message = str(error).lower()
    return "shape" in message and ("expected" in message or "mismatch" in message or "incompatible" in message)


def _first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer state after every epoch and keeps the run's history.

    Args:
        directory: the checkpoint folder.
        history: the list of per-epoch records so far (from a resumed state, or empty).
        write: whether this process writes files (only the chief does in multi-worker runs).
        keep: how many weight files to keep.
        on_commit: called with the history after each committed epoch (reports, curves).
        identity: what the checkpoint is of (model name, arguments, input, classes), stored in
            `state.json` so that a resume into a directory of another model says so.
    """

    def __init__(self, directory, history, write=True, keep=2, on_commit=None, identity=None):
        super().__init__()
        self.identity = identity
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
            os.makedirs(self.directory, exist_ok=True)
            # A full disk must fail here, cleanly, not inside the HDF5 writer (which can crash the process).
            check_free_space(self.directory, _checkpoint_bytes(self.model), f"the epoch {epoch + 1} checkpoint")
            atomic_save(os.path.join(self.directory, name), self.model.save_weights)
            state = {"epoch": epoch + 1, "weights": name, "history": self.history}
            if self.identity is not None:
                state["identity"] = self.identity
            atomic_write_json(os.path.join(self.directory, STATE_FILE), state)
            self._remove_old(name)
        if self.on_commit is not None:
            self.on_commit(self.history)

    def _remove_old(self, current):
        files = sorted(f for f in os.listdir(self.directory) if f.startswith("epoch-") and f.endswith(".weights.h5"))
        for name in files[:-self.keep]:
            if name != current:
                os.remove(os.path.join(self.directory, name))
