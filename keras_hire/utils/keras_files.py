"""Loading a `.keras` file with errors that name the file and what is wrong with it."""

import os
import zipfile


def check_input_file(path, what, suffixes=()):
    """Fails naming `path` when it is missing, a directory, empty or of another kind than `suffixes`."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"{what}: expected a file path, got {path!r}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist. Fix: pass the path of an existing file.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a directory, not a file. Fix: pass the file inside it.")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{what} {path!r} is empty (0 bytes): an interrupted copy? Fix: write or copy it again.")
    if suffixes and not str(path).endswith(tuple(suffixes)):
        raise ValueError(f"{what} {path!r} is not a {'/'.join(suffixes)} file. Fix: pass a {suffixes[0]} file.")
    return str(path)


def load_keras_file(path, what="model file"):
    """`keras.models.load_model(path, compile=False)` after checking that `path` is a readable `.keras` archive."""
    import keras

    import keras_hire  # noqa: F401  (registers the custom layers for loading)

    check_input_file(path, what, (".keras",))
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{what} {path!r} is corrupt: a .keras file is a zip archive and this is not one "
                         "(truncated or overwritten?). Fix: save or copy the model again.")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise ValueError(f"{what} {path!r} cannot be loaded: {first}. Fix: save or copy the model again.") from error
