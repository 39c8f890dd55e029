"""The quickstart's promise: >= 95% on the embedded test digits, int8 within 0.5 points of Keras,
every float32 op on XNNPACK. About 2 minutes on 2 CPU cores, hence `slow`."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quickstart_reaches_95_percent_and_int8_tracks_keras(tmp_path):
    model_dir = str(tmp_path / "quickstart")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, os.path.join("training", "quickstart.py"), f"--model_dir={model_dir}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| TFLite int8 |" in result.stdout
    with open(os.path.join(model_dir, "tflite", "export_report.json")) as handle:
        report = json.load(handle)
    files = {entry["quantization"]: entry for entry in report["files"]}
    assert report["keras_accuracy"] >= 0.95
    assert files["float32"]["agreement"] == 1.0
    assert abs(files["int8"]["accuracy_drop"]) <= 0.5
    assert files["float32"]["not_delegated"] == "none"
    with open(os.path.join(model_dir, "quickstart.json")) as handle:
        summary = json.load(handle)
    # The summary's table shows the report's files and numbers (its wall times are for benchmarks/).
    assert [row["artefact"] for row in summary["rows"][1:]] == ["TFLite float32", "TFLite int8"]
    assert summary["rows"][0]["accuracy"] == f"{100 * report['keras_accuracy']:.2f}%"
    assert summary["rows"][2]["accuracy"] == f"{100 * files['int8']['tflite_accuracy']:.2f}%"
