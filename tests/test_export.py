"""keras_hire.export and the tflite/ binaries: verified export, XNNPACK coverage, benchmark, GPU log."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hire import benchmark, export, utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
TINY = dict(depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 16))


def _run(*args, timeout=600):
    result = subprocess.run([sys.executable, *args], cwd=REPO, env={**os.environ, **CHILD_ENV},
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _python(script):
    return _run("-c", script)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny Hire-MLP exported to all four quantizations by tflite/export.py (one child process)."""
    from keras_hire.models import create_model

    keras.utils.set_random_seed(0)
    directory = tmp_path_factory.mktemp("export")
    model = create_model("hire_mlp_tiny", num_classes=10, input_shape=(28, 28, 1), **TINY)
    model_path = str(directory / "tiny.keras")
    model.save(model_path)
    output = _run(os.path.join("tflite", "export.py"), f"--model={model_path}", "--num_eval=200",
                  "--num_calibration=64", f"--output_dir={directory / 'tflite'}")
    with open(directory / "tflite" / "export_report.json") as handle:
        return {"dir": directory, "report": json.load(handle), "stdout": output}


def test_export_binary_writes_four_verified_builtin_files(exported):
    report = exported["report"]
    assert [entry["quantization"] for entry in report["files"]] == ["float32", "float16", "dynamic", "int8"]
    for entry in report["files"]:
        assert os.path.getsize(entry["path"]) == entry["size_bytes"]
        assert entry["num_images"] == 200
        assert {"agreement", "tflite_accuracy", "keras_accuracy", "max_abs_diff", "accuracy_drop"} <= set(entry)
        assert entry["xnnpack"]["total"] == entry["xnnpack"]["delegated_count"] + sum(
            entry["xnnpack"]["not_delegated"].values())
    by_kind = {entry["quantization"]: entry for entry in report["files"]}
    assert by_kind["float32"]["max_abs_diff"] < 1e-4 and by_kind["float32"]["agreement"] == 1.0
    assert by_kind["float16"]["max_abs_diff"] < 1e-2
    assert by_kind["int8"]["size_bytes"] < by_kind["float32"]["size_bytes"]  # tiny: graph overhead dominates
    assert "| tiny.int8.tflite |" in exported["stdout"]  # the markdown report
    assert os.path.exists(exported["dir"] / "tflite" / "export_report.md")


def test_int8_file_has_integer_io_and_tracks_keras(exported):
    from ai_edge_litert.interpreter import Interpreter

    path = str(exported["dir"] / "tflite" / "tiny.int8.tflite")
    interpreter = Interpreter(model_path=path)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_input_details()[0]["shape"].tolist() == [1, 28, 28, 1]
    int8 = {entry["quantization"]: entry for entry in exported["report"]["files"]}["int8"]
    assert int8["agreement"] >= 0.9


def test_benchmark_binary_reports_latency_and_coverage(exported):
    path = str(exported["dir"] / "tflite" / "tiny.float32.tflite")
    out_json = str(exported["dir"] / "bench.json")
    stdout = _run(os.path.join("tflite", "benchmark.py"), f"--models={path}", "--num_threads=1,2", "--runs=5",
                  "--warmup=1", f"--output_json={out_json}", f"--output_md={exported['dir'] / 'bench.md'}")
    with open(out_json) as handle:
        rows = json.load(handle)
    assert [(r["num_threads"], r["xnnpack"]) for r in rows] == [(1, True), (2, True), (1, False), (2, False)]
    for row in rows:
        assert 0 < row["median_ms"] <= row["p90_ms"] and row["size_bytes"] == os.path.getsize(path)
    assert "| median ms |" in stdout and os.path.exists(exported["dir"] / "bench.md")


def _coverage_of(model):
    flatbuffer = export.to_tflite(model)
    return export.tflite_op_names(flatbuffer), benchmark.xnnpack_coverage(flatbuffer)


def test_xnnpack_coverage_counts_delegated_and_missing_ops():
    import tensorflow as tf

    inputs = keras.Input((16,))
    dense = keras.layers.Dense(8)(inputs)
    model = keras.Model(inputs, keras.layers.Softmax()(dense))
    ops, coverage = _coverage_of(model)
    assert coverage["not_delegated"] == {} and coverage["delegated_count"] == coverage["total"] == len(ops)
    assert benchmark.format_not_delegated(coverage) == "none"

    class TopK(keras.layers.Layer):
        def call(self, x):
            return tf.math.top_k(x, k=3).values

    model = keras.Model(inputs, TopK()(keras.layers.Dense(8)(inputs)))
    _, coverage = _coverage_of(model)
    assert coverage["not_delegated"] == {"TOPK_V2": 1}
    assert coverage["delegated"] == {"FULLY_CONNECTED": 1}


def test_flex_op_fails_with_the_op_name():
    import tensorflow as tf

    class NeedsFlex(keras.layers.Layer):
        def call(self, x):
            return tf.linalg.det(tf.reshape(x, (-1, 4, 4)))

    inputs = keras.Input((16,))
    with pytest.raises(export.UnsupportedOpError, match="MatrixDeterminant"):
        export.to_tflite(keras.Model(inputs, NeedsFlex()(inputs)))


def test_verify_and_run_tflite_quantize_int8_io_and_report_true_accuracies():
    # A tiny classifier trained briefly on real digits: its accuracy is neither 1.0 nor chance, so a
    # report that compared the wrong arrays would show.
    from keras_hire.data import mnist_5k_arrays

    arrays = mnist_5k_arrays()
    (train_images, train_labels), (test_images, test_labels) = arrays["train"], arrays["test"]
    train_images, images = train_images.astype(np.float32) / 255, test_images[::5].astype(np.float32) / 255
    labels = test_labels[::5]  # 200 digits, 20 of each
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train_images, train_labels, epochs=2, batch_size=64, verbose=0)
    flatbuffer = export.to_tflite(model, "int8", [train_images[:64]])
    result = export.verify_against_keras(model, flatbuffer, images, labels)

    keras_accuracy = float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))
    tflite_accuracy = float(np.mean(export.run_tflite(flatbuffer, images).argmax(-1) == labels))
    assert 0.8 < keras_accuracy < 1.0, keras_accuracy
    assert result["keras_accuracy"] == pytest.approx(keras_accuracy)
    assert result["tflite_accuracy"] == pytest.approx(tflite_accuracy)
    assert abs(keras_accuracy - tflite_accuracy) <= 0.03
    assert result["accuracy_drop"] == pytest.approx(100 * (keras_accuracy - tflite_accuracy), abs=0.01)
    assert result["agreement"] >= 0.95 and result["num_images"] == 200


def test_parse_gpu_log():
    rejected = ("INFO: Created TensorFlow Lite delegate for GPU.\n"
                "RESHAPE: Tensor dimensions must be less than 5\n"
                "STRIDED_SLICE: Max version supported: 2. Requested version 4.\n"
                "23 operations will run on the GPU, and the remaining 34 operations will run on the CPU.\n")
    parsed = benchmark.parse_gpu_log(rejected)
    assert parsed["available"] and not parsed["fully_accelerated"]
    assert set(parsed["rejected"]) == {"RESHAPE", "STRIDED_SLICE"}
    assert (parsed["gpu_ops"], parsed["cpu_ops"]) == (23, 34)
    assert benchmark.parse_gpu_log("Fully accelerated: True\n")["fully_accelerated"]
    assert not benchmark.parse_gpu_log("No adapters found\n", returncode=1)["available"]
    broken = benchmark.parse_gpu_log("E0 environment.cc:105] Validation error: [Invalid ComputePipeline] bad\n"
                                     "Fully accelerated: True\n")
    assert broken["fully_accelerated"] and broken["runtime_errors"] == ["[Invalid ComputePipeline] bad"]


def test_atomic_writes_keep_the_old_file_on_failure(tmp_path):
    path = str(tmp_path / "report.json")
    utils.atomic_write_json(path, {"a": 1})

    def failing_writer(temp_path):
        with open(temp_path, "w") as handle:
            handle.write("{partial")
        raise KeyboardInterrupt  # killed mid-write

    with pytest.raises(KeyboardInterrupt):
        utils.atomic_save(path, failing_writer)
    with open(path) as handle:
        assert json.load(handle) == {"a": 1}
    assert os.listdir(tmp_path) == ["report.json"]  # no temp file left behind


def test_gemm_rate_unsets_blas_overrides(monkeypatch):
    # Some machines already set both; the test sets its own values for both.
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    result = benchmark.gemm_rate(threads=1, size=256, repeats=2)
    assert result["unset_env"] == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
    assert result["median_gflops"] > 0 and result["blas"]
