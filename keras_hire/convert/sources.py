"""Reading official PyTorch state_dicts from a mapping, `.pth`, `.npz` or `.safetensors` file."""

import os
from collections.abc import Mapping

import numpy as np

# Wrappers that training scripts put around the state_dict, tried in this order.
_NESTED_KEYS = ("state_dict", "model", "model_ema", "module")
_PREFIXES = ("module.",)
# keras_hire's parity fixtures hold the state_dict under `state/` beside the input and the logits.
_FIXTURE_PREFIX = "state/"


def read_state_dict(source):
    """Returns `{official_name: np.ndarray}` from a mapping or a file path.

    Accepts a mapping of names to arrays (numpy or torch tensors), or a path to a `.pth`/`.pt`/
    `.bin` file (needs torch), an `.npz` file or a `.safetensors` file. A checkpoint dict that
    nests the weights under `model`, `state_dict`, ... is unwrapped, and the `module.` prefix
    of DistributedDataParallel checkpoints is dropped; in keras_hire's fixture files only the
    `state/` entries are read.
    """
    if isinstance(source, Mapping):
        state = dict(source)
    elif isinstance(source, (str, os.PathLike)):
        state = _read_file(os.fspath(source))
    else:
        raise TypeError(
            "load_pytorch_weights expects a mapping of official names to arrays or a path to a "
            f".pth, .npz or .safetensors file; received {type(source).__name__}."
        )
    state = _unwrap(state)
    if any(key.startswith(_FIXTURE_PREFIX) for key in state):
        state = {key[len(_FIXTURE_PREFIX):]: v for key, v in state.items() if key.startswith(_FIXTURE_PREFIX)}
    arrays = {}
    for key, value in state.items():
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().float().numpy() if value.is_floating_point() else value.cpu().numpy()
        arrays[_strip_prefixes(key)] = np.asarray(value)
    return arrays


def _read_file(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path!r}.")
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        if extension == ".safetensors":
            from safetensors.numpy import load_file

            return load_file(path)
        if extension in (".pth", ".pt", ".bin", ".ckpt"):
            try:
                import torch
            except ImportError as error:
                raise ImportError(
                    f"Reading {path!r} needs PyTorch, which is not installed. Install it with "
                    "`pip install 'keras_hire[torch]'`, or convert the file to .npz or .safetensors "
                    "where torch is available."
                ) from error
            return torch.load(path, map_location="cpu", weights_only=True)
    except (ImportError, FileNotFoundError):
        raise
    except Exception as error:  # zip, pickle and header errors of truncated or corrupt files
        raise ValueError(f"Could not read checkpoint {path!r}; the file is corrupt or truncated: {error}") from error
    raise ValueError(
        f"Unsupported checkpoint format {extension!r} for {path!r}; use .pth/.pt (PyTorch), .npz or .safetensors."
    )


def _unwrap(state):
    for key in _NESTED_KEYS:
        if key in state and isinstance(state[key], Mapping):
            return _unwrap(dict(state[key]))
    return state


def _strip_prefixes(key):
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key
