"""training/slim.py end to end on the embedded digits: search, fine-tune, files, report, picture."""

import json
import os
import subprocess
import sys

import pytest

from keras_hire.methods.slimming.config import SlimConfig
from keras_hire.models import VisionTransformer
from keras_hire.utils.config import ConfigError
from tests.model_checks import REPO


@pytest.mark.slow  # a subprocess: search, fine-tune, two TFLite conversions (about 30-50 s on 2 cores)
def test_slim_binary_writes_the_slimmed_model_report_and_picture(tmp_path):
    checkpoint = os.path.join(tmp_path, "model.keras")
    VisionTransformer(patch_size=7, embed_dim=16, depth=3, num_heads=2, num_classes=10, input_shape=(28, 28, 1),
                      name="deit_tiny").save(checkpoint)
    out = os.path.join(tmp_path, "run")
    command = [sys.executable, "training/slim.py", f"--checkpoint={checkpoint}", "--model=deit_tiny",
               "--dataset=mnist_5k", f"--model_dir={out}", "--num_search_images=16", "--granularity=8",
               "--block_epochs=1", "--finetune_epochs=1", "--steps_per_epoch=2", "--eval_steps=1", "--batch_size=8",
               "--num_eval=16", "--latency_runs=2", "--latency_threads=1", "--quantizations=float32",
               "--tolerance=0.5", "--jit_compile=false", "--tensorboard=false", "--verbose=2"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("model.keras", "keep.json", "slimming_report.json", "slimming_report.md", "kept_patches.png",
                 "tflite/slimmed/slimmed.float32.tflite", "tflite/original/original.float32.tflite",
                 "finetune/model.keras", "search/slimming_state.json"):
        assert os.path.exists(os.path.join(out, name)), name
    with open(os.path.join(out, "slimming_report.json")) as file:
        report = json.load(file)
    with open(os.path.join(out, "keep.json")) as file:
        keep = json.load(file)
    assert report["keep_counts"] == [len(k) for k in keep] and keep[-1] == [0]
    assert report["slimmed"]["macs"] < report["original"]["macs"]
    assert all(f["not_delegated"] == "none" for f in report["slimmed"]["files"])
    assert "block 0" in result.stdout + result.stderr  # progress lines of the search


def test_slim_config_names_a_missing_checkpoint_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="checkpoint.*Fix"):
        SlimConfig(checkpoint=os.path.join(tmp_path, "missing.keras"))
    with pytest.raises(ConfigError, match="checkpoint.*a value is required.*Fix"):
        SlimConfig()
