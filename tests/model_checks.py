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


# Ops no exported model may hold besides Flex ones: variable ops mean the converter kept a resource
# graph; the models' gathers (circular shifts, circulant kernels) must fold into slices or constants.
FORBIDDEN_TFLITE_OPS = {"CUSTOM", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "GATHER", "GATHER_ND"}


def assert_builtin_ops(ops):
    bad = sorted({op for op in ops if op.startswith("Flex") or op in FORBIDDEN_TFLITE_OPS})
    assert not bad, bad


def assert_tflite_matches(model, inputs, tmp_path, tolerance=1e-4):
    """A batch-1 float32 TFLite file with builtin ops only matches Keras within `tolerance`."""
    outputs, ops, _ = tflite_outputs(model, inputs, tmp_path)
    assert_builtin_ops(ops)
    expected = model.predict(inputs, verbose=0)
    assert relative_error(outputs, expected) < tolerance, relative_error(outputs, expected)
    return ops


def many_tflite_outputs(jobs, directory, timeout=1800):
    """Float32 TFLite outputs of many saved models, converted in ONE child process.

    `jobs` maps a key to `(model.keras path, inputs .npz path)`. Returns `{key: (outputs, ops)}`,
    or `{key: traceback}` for a model that failed, so that one failure does not hide the others.
    Converting small models one after another in a single child bounds the converter's leak
    (tensorflow#122598) and saves a TensorFlow start (~10 s) per model.
    """
    spec = os.path.join(directory, "tflite_jobs.json")
    with open(spec, "w") as handle:
        json.dump({key: [*paths, os.path.join(directory, f"{key}.tflite_out.npz")] for key, paths in jobs.items()},
                  handle)
    run_in_subprocess(
        "import json, traceback\n"
        "from tests.tflite_child import main\n"
        f"for key, (model, inputs, out) in json.load(open({spec!r})).items():\n"
        "    try:\n"
        "        main(model, inputs, out, 'float32')\n"
        "    except Exception:\n"
        "        open(out + '.error', 'w').write(traceback.format_exc())\n",
        timeout=timeout,
    )
    results = {}
    for key in jobs:
        out = os.path.join(directory, f"{key}.tflite_out.npz")
        if os.path.exists(out + ".error"):
            results[key] = open(out + ".error").read()
            continue
        with np.load(out) as data:
            results[key] = data["outputs"], json.loads(str(data["ops"]))
    return results


# Runs in the JAX child. Building under a StatelessScope that does not initialise the variables skips
# compiling one XLA random-number kernel per weight shape (~1 s each on 2 cores): the weights are
# loaded right after. clear_session then drops Keras' list of never-initialised variables.
_JAX_CHILD = """
import json, traceback
import numpy as np, keras, keras_hire
assert keras.backend.backend() == "jax"
results = {}
for key, (builder, weights, inputs) in json.load(open(SPEC)).items():
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = eval(builder, {"keras": keras, "keras_hire": keras_hire})
        model.load_weights(weights)
        keras.utils.clear_session(free_memory=False)
        x = np.load(inputs)["inputs"]
        results[key] = model.predict(x, verbose=0)  # one jitted graph: compiles faster than eager ops
    except Exception:
        results[key + "/error"] = np.array(traceback.format_exc())
np.savez(OUT, **results)
"""


def jax_child_env():
    """The environment of a JAX child. Unoptimised XLA codegen compiles ~2x faster on 2 cores, and
    the outputs stay within the parity tolerances."""
    return {"KERAS_BACKEND": "jax", "XLA_FLAGS": os.environ.get("XLA_FLAGS", "--xla_backend_optimization_level=0")}


def many_jax_outputs(jobs, directory, timeout=1800):
    """Outputs on the JAX backend of many models, in ONE child process (each JAX start costs ~10 s).

    `jobs` maps a key to `(builder source, .weights.h5 path, inputs .npz path)`; the source is a
    Python expression over `keras` and `keras_hire` that builds the architecture. Returns
    `{key: outputs}`, or `{key: traceback}` for a model that failed.
    """
    spec, out = os.path.join(directory, "jax_jobs.json"), os.path.join(directory, "jax_outputs.npz")
    with open(spec, "w") as handle:
        json.dump(jobs, handle)
    run_in_subprocess(f"SPEC, OUT = {spec!r}, {out!r}\n" + _JAX_CHILD, env=jax_child_env(), timeout=timeout)
    with np.load(out) as data:
        return {key: str(data[f"{key}/error"]) if f"{key}/error" in data.files else data[key] for key in jobs}


def save_for_children(model, inputs, directory, key):
    """Writes `model` (.keras and .weights.h5) and `inputs` (.npz) for the child processes; returns the paths."""
    paths = {kind: os.path.join(directory, f"{key}.{kind}") for kind in ("keras", "weights.h5", "npz")}
    model.save(paths["keras"])
    model.save_weights(paths["weights.h5"])
    np.savez(paths["npz"], inputs=np.asarray(inputs, np.float32))
    return paths


def assert_jax_matches(model, builder_source, inputs, tmp_path, tolerance=1e-4):
    """The same architecture and weights give the same outputs on the JAX backend."""
    paths = save_for_children(model, inputs, tmp_path, "model")
    outputs = many_jax_outputs({"model": (builder_source, paths["weights.h5"], paths["npz"])}, tmp_path)["model"]
    assert not isinstance(outputs, str), outputs
    expected = model.predict(inputs, verbose=0)
    assert relative_error(outputs, expected) < tolerance, relative_error(outputs, expected)


def ops_above_rank(model, input_shape, limit=4):
    """`{op type: rank}` of the inference graph's tensors of rank above `limit` at batch 1 (the GPU
    delegate drops 5-D graphs almost entirely, DESIGN.md's mobile rules)."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    return {op.type: t.shape.rank for op in graph.get_operations() for t in op.outputs
            if t.shape.rank is not None and t.shape.rank > limit}


def weights_without_gradient(model, inputs, training=False):
    """Paths of the trainable weights whose gradient is missing, all zero or not finite.

    The loss is a fixed random projection of the outputs (a plain sum can cancel, e.g. after a
    softmax), so every weight that influences the outputs gets a non-zero gradient.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        outputs = keras.tree.flatten(model(inputs, training=training))
        projection = [np.random.RandomState(i).standard_normal(y.shape).astype(np.float32)
                      for i, y in enumerate(outputs)]
        loss = sum(tf.reduce_sum(tf.cast(y, tf.float32) * p) for y, p in zip(outputs, projection))
    weights = model.trainable_weights
    gradients = tape.gradient(loss, [w.value for w in weights])
    gradients = [None if g is None else tf.convert_to_tensor(g).numpy() for g in gradients]
    return [w.path for w, g in zip(weights, gradients) if g is None or not np.all(np.isfinite(g)) or not g.any()]


def fixture_state(path):
    """The official state_dict stored in a parity fixture (`state/<official name>` entries)."""
    with np.load(path) as fixture:
        return {k[len("state/"):]: fixture[k] for k in fixture.files if k.startswith("state/")}


def assert_matches_fixture(model, fixture_path, source=None):
    """Loads the official weights (from `source`, default the fixture itself: a path or a mapping)
    into `model` and checks its logits on the fixture's input within 1e-4; returns the loaded names."""
    from keras_hire.convert import load_pytorch_weights

    loaded = load_pytorch_weights(model, fixture_path if source is None else source)
    with np.load(fixture_path) as fixture:
        assert relative_error(model.predict(fixture["input_nhwc"], verbose=0), fixture["logits"]) < 1e-4
    return loaded


def write_pth(state, path):
    """Saves a state_dict as the official training scripts do (`{"model": ...}`), with torch."""
    import pytest

    torch = pytest.importorskip("torch", reason="reading .pth needs torch: pip install -e '.[timm]'")
    torch.save({"model": {k: torch.from_numpy(np.array(v)) for k, v in state.items()}}, path)
    return path
