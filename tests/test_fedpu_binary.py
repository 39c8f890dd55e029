"""training/fedpu.py end to end in a child process (the TFLite converter leaks; see DESIGN.md):
flags, round state, report, curve and the verified TFLite file of the final global model."""

import json
import os
import subprocess
import sys

from keras_hire.methods.federated import FedPUConfig, simulate
from tests.binary_runs import REPO, child_env

VALUES = dict(clients=3, classes_per_client=2, positive_classes_per_client=(2, 1, 1), clients_per_round=2,
              train_examples=600, test_examples=200, local_epochs=1, aggregator="fedprox", proximal_mu=0.01,
              loss="fedpu")
FLAGS = [f"--{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}" for key, value in VALUES.items()]


def _run(model_dir, *extra):
    command = [sys.executable, os.path.join(REPO, "training", "fedpu.py"), f"--model_dir={model_dir}", *FLAGS, *extra]
    return subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=600, cwd=REPO)


def test_the_binary_trains_resumes_and_exports(tmp_path):
    model_dir = str(tmp_path / "run")
    # The resume itself is tested in process (tests/test_fedpu_federation.py); here the binary's
    # part: an existing round state is picked up.
    os.makedirs(model_dir)
    simulate(FedPUConfig(rounds=1, model_dir=model_dir, export_tflite=False, **VALUES))
    result = _run(model_dir, "--rounds=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming after round 1" in result.stdout and "round 2/2" in result.stdout
    report = json.load(open(os.path.join(model_dir, "fedpu_report.json")))
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert report["config"]["aggregator"] == "fedprox" and report["config"]["positive_classes_per_client"] == [2, 1, 1]
    assert [c["positive_classes"] for c in report["clients"]] == [[0, 1], [4], [8]]
    (tflite,) = report["tflite"]
    assert os.path.getsize(tflite["path"]) > 10_000 and tflite["not_delegated"] == "none"
    assert tflite["agreement"] >= 0.99
    for name in ("model.keras", "fedpu_report.md", "accuracy.png", "federation_state.npz"):
        assert os.path.exists(os.path.join(model_dir, name)), name

