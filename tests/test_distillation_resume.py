"""training/distill.py survives SIGKILL (resumes to the weights of an uninterrupted run) and runs on two
workers with identical weights, as tests/test_training.py checks training/train.py. Slow: several
child runs (about 2-3 minutes on 2 cores)."""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_hire.models import create_model
from tests.binary_runs import REPO, assert_same_weights, child_env, kill_after_epochs, run_two_workers

DISTILL = os.path.join(REPO, "training", "distill.py")
STUDENT = json.dumps({"patch_size": 7, "embed_dim": 16, "depth": 2, "num_heads": 2})

pytestmark = pytest.mark.slow


@pytest.fixture()
def teacher_path(tmp_path):
    teacher = create_model("cait_s24", patch_size=7, embed_dim=16, depth=2, num_heads=2, num_classes=10,
                           input_shape=(28, 28, 1))
    path = str(tmp_path / "teacher.keras")
    teacher.save(path)
    return path


def _command(model_dir, teacher_path, *extra):
    return [sys.executable, DISTILL, "--model=deit_tiny_distilled", f"--model_kwargs={STUDENT}",
            f"--teacher_checkpoint={teacher_path}", "--dataset=mnist_5k", "--batch_size=32", "--num_samples=64",
            "--learning_rate=3e-3", f"--model_dir={model_dir}", "--verbose=2", "--nojit_compile",
            "--notensorboard", *extra]


def test_killed_distillation_resumes_to_the_uninterrupted_weights(tmp_path, teacher_path):
    model_dir = str(tmp_path / "run")
    schedule = ("--epochs=3", "--steps_per_epoch=8", "--eval_steps=2")
    command = _command(model_dir, teacher_path, *schedule)
    done_at_kill = kill_after_epochs(command, model_dir, epochs=1)
    assert 1 <= done_at_kill < 3

    resumed = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    resumed_from = int((resumed.stdout + resumed.stderr).split("after epoch ")[1].split()[0])
    assert resumed_from >= done_at_kill
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        history = json.load(handle)["history"]
    assert [record["epoch"] for record in history] == [1, 2, 3]
    assert "manifold_random" in history[-1]

    straight_dir = str(tmp_path / "straight")
    straight = subprocess.run(_command(straight_dir, teacher_path, *schedule), cwd=REPO, env=child_env(),
                              capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert_same_weights(os.path.join(model_dir, "model.keras"), os.path.join(straight_dir, "model.keras"))


def test_two_distillation_workers_end_with_identical_weights(tmp_path, teacher_path):
    model_dir = str(tmp_path / "run")
    command = _command(model_dir, teacher_path, "--strategy=multi_worker", "--epochs=1", "--steps_per_epoch=3",
                       "--eval_steps=1")
    _, chief, other = run_two_workers(command, model_dir)
    assert chief["weights_digest"] == other["weights_digest"]
    assert chief["final"] == pytest.approx(other["final"])
    student = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    assert student.name == "deit_tiny_distilled"


_MIRRORED_CHILD = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from keras_hire.methods.distillation import ManifoldDistiller
from keras_hire.models import create_model

def build():
    keras.utils.set_random_seed(0)
    student = create_model("deit_tiny_distilled", patch_size=4, embed_dim=16, depth=2, num_heads=2, num_classes=5,
                           input_shape=(16, 16, 3))
    teacher = create_model("cait_s24", patch_size=4, embed_dim=16, depth=2, num_heads=2, num_classes=5,
                           input_shape=(16, 16, 3))
    distiller = ManifoldDistiller(teacher, student, alpha=0.5, w_rand=0.0, num_samples=16)  # w_rand 0: no draw
    distiller.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False,
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return distiller

rng = np.random.default_rng(0)
images = rng.normal(size=(8, 16, 16, 3)).astype("float32")
labels = np.eye(5, dtype="float32")[rng.integers(0, 5, 8)]
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = build()
initial = [mirrored.student.get_weights(), mirrored.teacher.get_weights()]
mirrored.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), epochs=1, verbose=0)
# Expected: each replica's local objective on its half batch, gradients averaged, one SGD step.
single = build()
single.student.set_weights(initial[0])
single.teacher.set_weights(initial[1])
halves = [(images[:4], labels[:4]), (images[4:], labels[4:])]
grads = []
for x, y in halves:
    with tf.GradientTape() as tape:
        loss = single.compute_loss(x, y, single(x, training=True), training=True)
    grads.append(tape.gradient(loss, single.trainable_variables))
expected = [v.numpy() - 0.5 * 0.5 * (a + b).numpy() for v, a, b in zip(single.trainable_variables, *grads)]
got = [v.numpy() for v in mirrored.trainable_variables]
moved = max(float(np.abs(e - v.numpy()).max()) for e, v in zip(expected, single.trainable_variables))
print("RESULT" + json.dumps({"max_diff": max(float(np.abs(a - b).max()) for a, b in zip(got, expected)),
                             "step_size": moved}))
"""


def test_mirrored_replicas_average_their_local_objectives():
    """Under tf.distribute the total is scaled by 1 / replicas, like Keras' compiled losses: one step on two
    replicas equals one step on the mean of the two half-batch objectives."""
    from tests.model_checks import run_in_subprocess

    output = run_in_subprocess(_MIRRORED_CHILD, env={"KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": ""},
                               timeout=300)
    result = json.loads(output.split("RESULT")[-1])
    assert result["step_size"] > 1e-4  # the step moved the weights
    assert result["max_diff"] < 1e-3 * result["step_size"] + 1e-6, result
