"""Atomic file writes: write a temporary file in the same folder, then rename it into place.

A process killed mid-write leaves the previous file intact (rename is atomic on POSIX), never
a truncated checkpoint, report or TFLite file.
"""

import json
import os
import tempfile


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically, synced to disk before the rename."""

    def write(temp):
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    atomic_save(path, write)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, value):
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=_jsonable) + "\n")


def atomic_save(path, save_function):
    """Calls `save_function(temp_path)` on a temporary path with the same suffix, then renames it.

    For writers that need a path, e.g. `lambda p: model.save_weights(p)` (Keras checks suffixes).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    suffix = name[name.index("."):] if "." in name else ""
    handle, temp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    os.remove(temp)  # some writers refuse to overwrite
    try:
        save_function(temp)
        _make_readable(temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def _make_readable(path):
    # mkstemp creates 0600 files; give the result the permissions of an ordinary new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _jsonable(value):
    import numpy as np

    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)
