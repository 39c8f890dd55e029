"""training/drnet.py end to end on the embedded digits: both stages on the shared trainer (stage 2's
traced, per-resolution split step included), killed in each stage and resumed."""

import json
import os
import subprocess
import sys

import pytest

from tests.binary_runs import REPO, child_env, kill_after_epochs

_FLAGS = ["--model=resnet18", '--model_kwargs={"depths": [1, 1, 1, 1], "channels": [16, 32, 48, 64], "stem_width": 16}',
          "--resolutions=48,32", "--predictor_size=32", "--predictor_channels=16,16,32,32", "--predictor_stem_width=16",
          "--target_macs=2.2e6", "--eta=1", "--epochs=2", "--steps_per_epoch=2", "--eval_steps=1", "--batch_size=16",
          "--nojit_compile", "--notensorboard", "--verbose=0"]


# Three process starts, each tracing the three-branch stage-2 graph: 11.5 min on the loaded 2-core machine.
@pytest.mark.slow
def test_both_stages_resume_after_a_kill_and_write_a_drnet(tmp_path):
    model_dir = str(tmp_path / "run")
    command = [sys.executable, os.path.join(REPO, "training", "drnet.py"), f"--model_dir={model_dir}", *_FLAGS]
    assert kill_after_epochs(command, os.path.join(model_dir, "stage1"), epochs=1, timeout=600) == 1
    assert kill_after_epochs(command, os.path.join(model_dir, "stage2"), epochs=1, timeout=900) == 1
    done = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "all 2 epochs already done" in log  # stage 1 finished before the second kill
    assert "resuming from" in log and "after epoch 1" in log  # stage 2 resumed
    for stage in ("stage1", "stage2"):
        with open(os.path.join(model_dir, stage, "metrics.json")) as handle:
            assert json.load(handle)["epochs_done"] == 2
    final = json.loads(done.stdout[done.stdout.index("{"):])["stage2"]
    with open(os.path.join(model_dir, "drnet.json")) as handle:
        costs = json.load(handle)["costs"]
    assert min(costs) <= final["macs"] <= max(costs) and 0.0 <= final["accuracy"] <= 1.0
