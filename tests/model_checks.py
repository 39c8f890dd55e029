"""Checks every model family runs through: forward, .keras round trip, JAX backend, TFLite."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def relative_error(actual, expected):
    """Max abs difference relative to the largest magnitude of `expected`."""
    return float(np.max(np.abs(np.asarray(actual) - expected)) / max(np.max(np.abs(expected)), 1e-12))


def assert_keras_roundtrip(model, inputs, tmp_path):
    """Saving to .keras and loading gives the same class, config and outputs."""
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(
        model.predict(inputs, verbose=0), restored.predict(inputs, verbose=0)
    )
    return restored


def run_in_subprocess(script, env=None, timeout=900):
    """Runs a Python snippet in a fresh interpreter at the repo root; returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def tflite_outputs(model, inputs, tmp_path, quantization="float32"):
    """Converts `model` in a child process and returns (outputs, op names, file size)."""
    model_path = os.path.join(tmp_path, "model.keras")
    inputs_path = os.path.join(tmp_path, "inputs.npz")
    out_path = os.path.join(tmp_path, "tflite_out.npz")
    model.save(model_path)
    np.savez(inputs_path, inputs=np.asarray(inputs, np.float32))
    child = os.path.join(REPO, "tests", "tflite_child.py")
    result = subprocess.run(
        [sys.executable, child, model_path, inputs_path, out_path, quantization],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    if result.returncode != 0:
        raise AssertionError(f"TFLite conversion failed:\n{result.stderr[-4000:]}")
    with np.load(out_path) as data:
        return data["outputs"], json.loads(str(data["ops"])), int(data["size"])


def assert_tflite_matches(model, inputs, tmp_path, tolerance=1e-4):
    """A batch-1 float32 TFLite file with builtin ops only matches Keras within `tolerance`."""
    outputs, ops, _ = tflite_outputs(model, inputs, tmp_path)
    assert not [op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "VAR_HANDLE", "READ_VARIABLE")]
    expected = model.predict(inputs, verbose=0)
    assert relative_error(outputs, expected) < tolerance, relative_error(outputs, expected)
    return ops


def jax_outputs(builder_source, weights_path, inputs_path):
    """Outputs of a model built by `builder_source` under KERAS_BACKEND=jax with saved weights."""
    script = (
        "import numpy as np, keras, keras_hire\n"
        f"model = {builder_source}\n"
        f"model.load_weights({weights_path!r})\n"
        f"x = np.load({inputs_path!r})['inputs']\n"
        "assert keras.backend.backend() == 'jax'\n"
        "print(repr(np.asarray(model.predict(x, verbose=0)).tolist()))\n"
    )
    stdout = run_in_subprocess(script, env={"KERAS_BACKEND": "jax"})
    return np.array(eval(stdout.strip().splitlines()[-1]), np.float32)  # noqa: S307  (our own repr)


def assert_jax_matches(model, builder_source, inputs, tmp_path, tolerance=1e-4):
    """The same architecture and weights give the same outputs on the JAX backend."""
    weights_path = os.path.join(tmp_path, "model.weights.h5")
    inputs_path = os.path.join(tmp_path, "jax_inputs.npz")
    model.save_weights(weights_path)
    np.savez(inputs_path, inputs=np.asarray(inputs, np.float32))
    outputs = jax_outputs(builder_source, weights_path, inputs_path)
    expected = model.predict(inputs, verbose=0)
    assert relative_error(outputs, expected) < tolerance, relative_error(outputs, expected)
