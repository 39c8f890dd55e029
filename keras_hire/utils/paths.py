"""Output paths checked before any work: a run that cannot write finds out at start, not after an epoch."""

import os
import shutil
import tempfile


def check_writable_dir(path, what):
    """Proves that `path` (a folder, created later if missing) can be written, with a probe file in it or
    in its nearest existing parent; fails naming `what`. Creates nothing that stays."""
    probe_dir = os.path.abspath(path)
    while not os.path.exists(probe_dir):
        probe_dir = os.path.dirname(probe_dir)
    try:
        if not os.path.isdir(probe_dir):
            raise NotADirectoryError(20, f"{probe_dir!r} is a file, not a folder")
        handle, probe = tempfile.mkstemp(dir=probe_dir, prefix=".write-probe-")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise PermissionError(f"{what} {path!r} is not writable ({reason}). "
                              f"Fix: pass a {what} you can write to.") from error
    return path


def check_free_space(path, needed_bytes, what):
    """Fails before a write of about `needed_bytes` into the folder `path` that the disk cannot hold."""
    free = shutil.disk_usage(path).free
    if free < needed_bytes:
        raise OSError(f"Not enough disk space for {what} in {path!r}: needs about {needed_bytes / 2**20:.1f} MiB, "
                      f"{free / 2**20:.1f} MiB free. Fix: free space or use another folder.")
