"""Distillation training: one train step on JAX (a child process) matching TensorFlow's loss, and
training/distill.py end to end (model.keras is the student alone), with bad teachers refused."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hire.methods import distillation as md
from keras_hire.models import create_model
from keras_hire.training import TrainConfig
from tests.binary_runs import CHILD_ENV, REPO
from tests.model_checks import jax_child_env, run_in_subprocess

DISTILL = os.path.join(REPO, "training", "distill.py")
STUDENT = dict(patch_size=4, embed_dim=16, depth=3, num_heads=2, num_classes=5, input_shape=(16, 16, 3))
TEACHER = dict(patch_size=4, embed_dim=24, depth=4, num_heads=2, num_classes=5, input_shape=(16, 16, 3))
SETTINGS = dict(alpha=0.5, beta=1.0, num_samples=4 * 16)  # K = B * N: the random term is draw-independent

_JAX_STEP = """
import json, keras, numpy as np
from keras_hire.methods import distillation as md
from keras_hire.models import create_model
from keras_hire.training import TrainConfig
student = create_model("deit_tiny_distilled", **STUDENT)
teacher = create_model("cait_s24", **TEACHER)
student.load_weights(PATHS["student"])
teacher.load_weights(PATHS["teacher"])
data = np.load(PATHS["batch"])
images, labels = data["images"], data["labels"]
distiller = md.ManifoldDistiller(teacher, student, **SETTINGS)
distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
loss = float(distiller.compute_loss(images, labels, distiller(images), training=False))
teacher_before = [np.array(w) for w in teacher.weights]
student_before = [np.array(w) for w in student.trainable_weights]
history = distiller.fit(images, labels, batch_size=4, epochs=1, verbose=0).history
print("RESULT" + json.dumps({
    "backend": keras.backend.backend(), "loss": loss, "history": {k: float(v[-1]) for k, v in history.items()},
    "teacher_frozen": all(np.array_equal(a, np.array(w)) for a, w in zip(teacher_before, teacher.weights)),
    "student_moved": any(not np.array_equal(a, np.array(w)) for a, w in zip(student_before,
                                                                            student.trainable_weights))}))
"""


def test_one_jax_train_step_matches_tensorflow(tmp_path):
    student, teacher = create_model("deit_tiny_distilled", **STUDENT), create_model("cait_s24", **TEACHER)
    images = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")
    labels = np.eye(5, dtype="float32")[[0, 1, 2, 3]]
    paths = {"student": str(tmp_path / "student.weights.h5"), "teacher": str(tmp_path / "teacher.weights.h5"),
             "batch": str(tmp_path / "batch.npz")}
    student.save_weights(paths["student"])
    teacher.save_weights(paths["teacher"])
    np.savez(paths["batch"], images=images, labels=labels)
    distiller = md.ManifoldDistiller(teacher, student, **SETTINGS)
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    tf_loss = float(distiller.compute_loss(images, labels, distiller(images), training=False))

    script = f"STUDENT, TEACHER, SETTINGS, PATHS = {STUDENT!r}, {TEACHER!r}, {SETTINGS!r}, {paths!r}\n" + _JAX_STEP
    output = run_in_subprocess(script, env=jax_child_env(), timeout=300)
    result = json.loads(output.split("RESULT")[-1])
    assert result["backend"] == "jax"
    np.testing.assert_allclose(result["loss"], tf_loss, rtol=1e-4)
    assert result["teacher_frozen"] and result["student_moved"]
    assert {"manifold_patch", "manifold_sample", "manifold_random", "distillation_loss", "student_loss",
            "total_loss"} <= set(result["history"])
    assert all(np.isfinite(value) for value in result["history"].values())


def _run_distill(model_dir, teacher_path, *extra):
    command = [sys.executable, DISTILL, "--model=deit_tiny_distilled",
               '--model_kwargs={"patch_size": 4, "embed_dim": 16, "depth": 2, "num_heads": 2}',
               f"--teacher_checkpoint={teacher_path}", "--dataset=mnist_5k", "--batch_size=16", "--epochs=1",
               "--steps_per_epoch=2", "--eval_steps=1", "--num_samples=96", f"--model_dir={model_dir}",
               "--verbose=2", "--nojit_compile", "--notensorboard", *extra]
    return subprocess.run(command, cwd=REPO, env={**os.environ, **CHILD_ENV}, capture_output=True, text=True,
                          timeout=300)


def test_distill_binary_saves_the_student_alone(tmp_path):
    teacher = create_model("cait_s24", patch_size=4, embed_dim=24, depth=2, num_heads=2, num_classes=10,
                           input_shape=(28, 28, 1))
    teacher_path = str(tmp_path / "teacher.keras")
    teacher.save(teacher_path)
    model_dir = str(tmp_path / "run")
    result = _run_distill(model_dir, teacher_path, "--student_layers=0,1", "--teacher_layers=0,1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    student = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    assert student.name == "deit_tiny_distilled" and isinstance(student, type(create_model("deit_tiny")))
    assert tuple(student.inputs[0].shape[1:]) == (28, 28, 1) and student.outputs[0].shape[-1] == 10
    assert not any("cait" in layer.name or "teacher" in layer.name for layer in student.layers)
    assert len(student.weights) == len(create_model("deit_tiny_distilled", **{
        "patch_size": 4, "embed_dim": 16, "depth": 2, "num_heads": 2, "num_classes": 10,
        "input_shape": (28, 28, 1)}).weights)
    with open(os.path.join(model_dir, "metrics.json")) as handle:
        metrics = json.load(handle)
    logged = set(metrics["history"][-1])
    assert {"manifold_patch", "manifold_sample", "manifold_random", "distillation_loss", "student_loss",
            "val_manifold_patch"} <= logged
    with open(os.path.join(model_dir, "config.json")) as handle:
        assert json.load(handle)["model"] == "deit_tiny_distilled"  # the student's TrainConfig
    reloaded = md.DistillConfig.from_json(os.path.join(model_dir, "distill_config.json"))  # --config reloads the run
    assert (reloaded.student_layers, reloaded.teacher_layers, reloaded.num_samples) == ((0, 1), (0, 1), 96)
    assert reloaded.train.model_dir == model_dir and reloaded.teacher_checkpoint == teacher_path

    # The student exports like any registry model: float32 and dynamic, verified, wholly on XNNPACK.
    from keras_hire.deploy import export_keras_file

    report = export_keras_file(os.path.join(model_dir, "model.keras"), str(tmp_path / "files"),
                               ("float32", "dynamic"), dataset="mnist_5k", num_eval=40, log=lambda _: None)
    for entry in report["files"]:
        assert entry["agreement"] >= 0.95 and entry["not_delegated"] == "none", entry


def test_a_teacher_of_another_image_size_fails_before_training(tmp_path):
    wrong_size = create_model("cait_s24", patch_size=4, embed_dim=24, depth=2, num_heads=2, num_classes=10,
                              input_shape=(32, 32, 1))
    wrong_path = str(tmp_path / "wrong_size.keras")
    wrong_size.save(wrong_path)
    config = md.DistillConfig(train=TrainConfig(model="deit_tiny", model_kwargs=dict(
        patch_size=4, embed_dim=16, depth=2, num_heads=2), model_dir=str(tmp_path / "run"), verbose=0,
        tensorboard=False), teacher_checkpoint=wrong_path)
    with pytest.raises(ValueError, match=r"\(32, 32, 1\) and the run's student \(28, 28, 1\).*Fix: train the teacher"):
        md.distill(config)
    assert not os.path.exists(os.path.join(config.train.model_dir, "checkpoints"))
