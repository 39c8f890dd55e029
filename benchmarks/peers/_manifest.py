"""Shared helpers of the peer exporters (standard library only: imported from both venvs)."""

import contextlib
import fcntl
import importlib.metadata
import json
import os
import tempfile

DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")


def versions(*packages):
    """`{package: installed version}` (`"not installed"` where missing)."""
    found = {}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def atomic_write(path, data, mode=0o644):
    """Writes bytes or text to `path` through a temporary file in the same folder and `os.replace`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


def temp_path_for(path):
    """A fresh temporary name beside `path` (for writers that insist on a path, not bytes)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(handle)
    return temp


def merge_manifest(output_dir, entries):
    """Adds `entries` to `<output_dir>/manifest.json`, replacing older entries with the same `path`.

    A lock file serialises concurrent exporters; the manifest itself is replaced atomically.
    """
    os.makedirs(output_dir, exist_ok=True)
    manifest = os.path.join(output_dir, "manifest.json")
    with open(manifest + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = []
        if os.path.exists(manifest):
            with open(manifest) as stream:
                current = json.load(stream)
        new_paths = {entry["path"] for entry in entries}
        merged = [entry for entry in current if entry.get("path") not in new_paths] + list(entries)
        merged.sort(key=lambda entry: entry["path"])
        atomic_write(manifest, json.dumps(merged, indent=2) + "\n")
    return manifest
