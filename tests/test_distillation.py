"""keras_hire.methods.distillation: manifold_loss, logit KD, taps and patch merging, the objective,
DistillConfig and teacher loading, each checked against textbook numpy/loop computations."""

import itertools

import keras
import numpy as np
import pytest
from absl import flags

from keras_hire.methods import distillation as md
from keras_hire.models import create_model
from keras_hire.training import TrainConfig
from keras_hire.utils.config import ConfigError
from keras_hire.utils.flags import define_config_flags

# ---------------------------------------------------------------- textbook references (loops, float64)

def _normalize(x):
    return x / np.maximum(np.sqrt((x * x).sum(-1, keepdims=True)), 1e-12)


def reference_manifold(student, teacher, indices):
    """The official layer_mf_loss written out entry by entry; indices into the b-major flat tokens."""
    student = np.asarray(student, np.float64)[:, student.shape[1] - teacher.shape[1]:]
    s, t = _normalize(student), _normalize(np.asarray(teacher, np.float64))
    batch, tokens = t.shape[:2]
    patch = np.mean([(t[b, i] @ t[b, j] - s[b, i] @ s[b, j]) ** 2
                     for b in range(batch) for i in range(tokens) for j in range(tokens)])
    sample = np.mean([(t[a, n] @ t[c, n] - s[a, n] @ s[c, n]) ** 2
                      for n in range(tokens) for a in range(batch) for c in range(batch)])
    picked_s = [s[k // tokens, k % tokens] for k in indices]  # flat index k = b * N + n
    picked_t = [t[k // tokens, k % tokens] for k in indices]
    random = np.mean([(picked_t[i] @ picked_t[j] - picked_s[i] @ picked_s[j]) ** 2
                      for i in range(len(indices)) for j in range(len(indices))])
    return {"patch": patch, "sample": sample, "random": random}


def reference_merge(tokens, grid, m):
    """Official merge(): every m x m block of adjacent patches -> one token, channels in (row, col, c) order."""
    batch, _, channels = tokens.shape
    height, width = grid
    grid_tokens = tokens.reshape(batch, height, width, channels)
    out = np.zeros((batch, (height // m) * (width // m), m * m * channels), tokens.dtype)
    for b, r, c in itertools.product(range(batch), range(height // m), range(width // m)):
        pieces = [grid_tokens[b, r * m + i, c * m + j] for i in range(m) for j in range(m)]
        out[b, r * (width // m) + c] = np.concatenate(pieces)
    return out


def reference_log_softmax(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def reference_soft_kd(student, teacher, tau):
    s, t = reference_log_softmax(student / tau), reference_log_softmax(teacher / tau)
    return float(np.sum(np.exp(t) * (t - s)) / student.shape[0] * tau * tau)  # batchmean


def reference_ce(logits, targets):
    return float(-np.mean(np.sum(targets * reference_log_softmax(logits), -1)))


def _tokens(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _values(result):
    return {key: float(value) for key, value in result.items()}


# ---------------------------------------------------------------- manifold_loss

@pytest.mark.parametrize("shapes", [((3, 7, 5), (3, 5, 9)), ((2, 4, 8), (2, 4, 3)), ((4, 6, 6), (4, 6, 6))])
def test_manifold_loss_matches_the_loop_reference_with_fixed_indices(shapes):
    student, teacher = _tokens(1, shapes[0]), _tokens(2, shapes[1])
    total = shapes[1][0] * shapes[1][1]
    indices = np.random.default_rng(3).permutation(total)[: max(2, total // 2)]
    expected = reference_manifold(student, teacher, indices)
    for as_tensor in (False, True):
        s, t = (keras.ops.convert_to_tensor(student), keras.ops.convert_to_tensor(teacher)) if as_tensor \
            else (student, teacher)
        got = _values(md.manifold_loss(s, t, sample_indices=indices))
        for term in ("patch", "sample", "random"):
            np.testing.assert_allclose(got[term], expected[term], rtol=2e-5, atol=1e-7, err_msg=term)


def test_float64_inputs_are_kept_in_float64():
    student, teacher = _tokens(4, (2, 5, 3)).astype(np.float64), _tokens(5, (2, 4, 6)).astype(np.float64)
    indices = [0, 3, 7, 5]
    result = md.manifold_loss(student, teacher, sample_indices=indices)
    assert keras.backend.standardize_dtype(result["patch"].dtype) == "float64"
    expected = reference_manifold(student, teacher, indices)
    np.testing.assert_allclose(_values(result)["random"], expected["random"], rtol=1e-12)


def test_flat_index_is_image_major_b_times_n_plus_n():
    # The K tokens of image 1 alone, in order: the random term is then image 1's patch term.
    student, teacher = _tokens(6, (3, 5, 4)), _tokens(7, (3, 5, 6))
    tokens = 5
    image1 = [1 * tokens + n for n in range(tokens)]
    random = float(md.manifold_loss(student, teacher, sample_indices=image1)["random"])
    alone = float(md.manifold_loss(student[1:2], teacher[1:2], sample_indices=[0, 1])["patch"])
    np.testing.assert_allclose(random, alone, rtol=1e-5)
    # n-major flattening (index n * B + b) would pick other tokens and give another value.
    n_major = reference_manifold(student, teacher[:, :, :], [n * 3 + 1 for n in range(tokens)])["random"]
    assert abs(n_major - random) > 1e-4


def test_random_term_draws_k_tokens_per_call():
    student, teacher = _tokens(8, (2, 6, 4)), _tokens(9, (2, 6, 5))
    # K = B * N: any permutation gives the same mean, so the drawn term equals the all-token one.
    everything = reference_manifold(student, teacher, range(12))["random"]
    np.testing.assert_allclose(float(md.manifold_loss(student, teacher, num_samples=12)["random"]), everything,
                               rtol=2e-5)
    # K < B * N: a seeded draw repeats, and draws differ from call to call.
    first = float(md.manifold_loss(student, teacher, num_samples=4, seed=3)["random"])
    assert first == float(md.manifold_loss(student, teacher, num_samples=4, seed=3)["random"])
    generator = keras.random.SeedGenerator(0)
    draws = {round(float(md.manifold_loss(student, teacher, num_samples=4, seed=generator)["random"]), 7)
             for _ in range(6)}
    assert len(draws) > 1
    # patch and sample do not depend on the draw
    np.testing.assert_allclose(float(md.manifold_loss(student, teacher, num_samples=4)["patch"]),
                               reference_manifold(student, teacher, [0])["patch"], rtol=2e-5)


def test_manifold_loss_is_zero_for_identical_and_rescaled_tokens():
    tokens = _tokens(10, (2, 4, 3))
    scale = np.abs(_tokens(11, (2, 4, 1))) + 0.5  # per-token positive scale: removed by the L2 normalisation
    with_prefix = np.concatenate([_tokens(12, (2, 2, 3)), tokens * scale], axis=1)  # 2 class tokens dropped
    result = _values(md.manifold_loss(with_prefix, tokens, num_samples=8))
    assert max(result.values()) < 1e-10


@pytest.mark.parametrize("student_shape, teacher_shape, kwargs, message", [
    ((2, 4, 3), (2, 4, 3), {"num_samples": 9}, "larger than batch \\* tokens = 2 \\* 4 = 8"),
    ((2, 3, 3), (2, 4, 3), {}, "fewer than the teacher"),
    ((2, 4, 3, 1), (2, 4, 3), {}, "expected rank 3"),
    ((2, 4, 3), (8, 3), {}, "expected rank 3"),
    ((2, 4, 3), (3, 4, 3), {}, "batch sizes differ"),
    ((2, 4, 3), (2, 4, 3), {"sample_indices": [0, 8]}, "must lie in \\[0, batch \\* tokens\\)"),
    ((2, 4, 3), (2, 4, 3), {"sample_indices": [[0, 1]]}, "1-D list of integers"),
    ((2, 4, 3), (2, 4, 3), {"num_samples": 0}, "positive integer K"),
])
def test_manifold_loss_bad_inputs_name_the_fix(student_shape, teacher_shape, kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        md.manifold_loss(np.ones(student_shape, "float32"), np.ones(teacher_shape, "float32"), **kwargs)
    assert "Fix:" in str(error.value)


# ---------------------------------------------------------------- logit distillation

def test_soft_and_hard_kd_match_the_reference():
    student, teacher = _tokens(13, (5, 7)) * 3, _tokens(14, (5, 7)) * 3
    for tau in (1.0, 2.5):
        np.testing.assert_allclose(float(md.soft_distillation_loss(student, teacher, tau)),
                                   reference_soft_kd(student, teacher, tau), rtol=1e-5)
        np.testing.assert_allclose(float(md.SoftDistillation(tau).compute_loss(teacher, student)),
                                   reference_soft_kd(student, teacher, tau), rtol=1e-5)
    argmax = np.eye(7)[teacher.argmax(-1)]
    np.testing.assert_allclose(float(md.hard_distillation_loss(student, teacher)), reference_ce(student, argmax),
                               rtol=1e-5)
    assert float(md.soft_distillation_loss(teacher, teacher, 2.0)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        md.SoftDistillation(0.0)


def test_kd_losses_plug_into_the_stock_keras_distiller():
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    distiller = keras.distillation.Distiller(teacher, student, md.SoftDistillation(2.0), student_loss_weight=0.0)
    x = _tokens(15, (6, 4))
    expected = reference_soft_kd(keras.ops.convert_to_numpy(student(x)), keras.ops.convert_to_numpy(teacher(x)), 2.0)
    distiller.compile(optimizer="sgd", loss="categorical_crossentropy")
    np.testing.assert_allclose(float(distiller.compute_loss(x, None, distiller(x))), expected, rtol=1e-5)


# ---------------------------------------------------------------- tokens, taps and layer pairs

def test_merge_tokens_and_flatten_map_match_the_official_order():
    tokens = _tokens(16, (2, 4 * 6, 3))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(md.merge_tokens(tokens, (4, 6), 2)),
                                  reference_merge(tokens, (4, 6), 2))
    feature_map = _tokens(17, (2, 3, 5, 4))
    flat = keras.ops.convert_to_numpy(md.flatten_map(feature_map))
    np.testing.assert_array_equal(flat[:, 1 * 5 + 2], feature_map[:, 1, 2])  # token h * W + w
    with pytest.raises(ValueError, match="cannot be merged"):
        md.merge_tokens(tokens, (4, 6), 3)


def test_default_layers_are_the_papers_pairs_for_deit_tiny_and_cait_s24():
    assert md.default_layers(12, 24) == ([0, 1, 2, 3, 8, 9, 10, 11], [0, 1, 2, 3, 20, 21, 22, 23])
    assert md.default_layers(4, 4) == ([0, 1, 2, 3], [0, 1, 2, 3])
    assert md.default_layers(3, 4) == ([0, 1, 2], [0, 1, 3])


def _tiny_deit(distilled=True, **overrides):
    kwargs = dict(patch_size=4, embed_dim=16, depth=3, num_heads=2, num_classes=5, input_shape=(16, 16, 3))
    kwargs.update(overrides)
    return create_model("deit_tiny_distilled" if distilled else "deit_tiny", **kwargs)


def _tiny_cait(**overrides):
    kwargs = dict(patch_size=4, embed_dim=24, depth=4, num_heads=2, num_classes=5, input_shape=(16, 16, 3))
    kwargs.update(overrides)
    return create_model("cait_s24", **kwargs)


def test_taps_of_token_models_and_pyramids():
    cait = _tiny_cait()
    taps = md.list_taps(cait)
    assert [t.name for t in taps] == ["block_0", "block_1", "block_2", "block_3"]  # patch blocks only
    assert {t.num_prefix for t in taps} == {0} and taps[0].grid == (4, 4)
    deit = _tiny_deit()
    assert {t.num_prefix for t in md.list_taps(deit)} == {2}
    hire = create_model("hire_mlp_tiny", depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 16), num_classes=5,
                        input_shape=(32, 32, 3))
    assert [(t.name, t.grid) for t in md.list_taps(hire)] == [("stage1", (8, 8)), ("stage2", (4, 4)),
                                                               ("stage3", (2, 2)), ("stage4", (1, 1))]


def test_layer_pair_errors_name_the_fix():
    student, teacher = _tiny_deit(), _tiny_cait()
    with pytest.raises(ValueError, match="different lengths.*Fix"):
        md.plan_layer_pairs(student, teacher, [0, 1], [0])
    with pytest.raises(ValueError, match=r"\[5\] out of range.*3 tappable.*Fix"):
        md.plan_layer_pairs(student, teacher, [0, 5], [0, 1])
    with pytest.raises(ValueError, match=r"teacher_layers.*\[4\] out of range"):
        md.plan_layer_pairs(student, teacher, [0], [4])
    plain = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="no token or stage outputs.*Fix"):
        md.plan_layer_pairs(student, plain)
    coarse = _tiny_cait(patch_size=16, input_shape=(48, 48, 3))  # 3x3 against the student's 4x4
    with pytest.raises(ValueError, match="whole multiple"):
        md.plan_layer_pairs(student, coarse, [0], [0])


def test_pyramid_teacher_pairs_merge_the_finer_grid():
    student = _tiny_deit(input_shape=(32, 32, 3), patch_size=8)  # 4x4 patches
    hire = create_model("hire_mlp_tiny", depths=(1, 1, 1, 1), embed_dims=(8, 16, 16, 16), num_classes=5,
                        input_shape=(32, 32, 3))  # stages 8x8, 4x4, 2x2, 1x1
    pairs = md.plan_layer_pairs(student, hire, [0, 1, 2], [0, 1, 2])
    assert [(p.student_merge, p.teacher_merge) for p in pairs] == [(1, 2), (1, 1), (2, 1)]
    s_tokens, t_map = _tokens(18, (2, 2 + 16, 6)), _tokens(19, (2, 8, 8, 5))
    student_tokens, teacher_tokens = md.taps.pair_tokens(pairs[0], s_tokens, t_map)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(student_tokens), s_tokens[:, 2:])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(teacher_tokens),
                                  reference_merge(t_map.reshape(2, 64, 5), (8, 8), 2))
    student_tokens, _ = md.taps.pair_tokens(pairs[2], s_tokens, _tokens(20, (2, 2, 2, 5)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(student_tokens),
                                  reference_merge(s_tokens[:, 2:], (4, 4), 2))


# ---------------------------------------------------------------- the objective

def _batch(count=4, classes=5, size=16):
    images = np.random.default_rng(21).normal(size=(count, size, size, 3)).astype("float32")
    labels = np.eye(classes, dtype="float32")[np.arange(count) % classes]
    return images, labels


def test_objective_matches_its_textbook_composition():
    student, teacher = _tiny_deit(), _tiny_cait()
    images, labels = _batch()
    # K = B * N (4 * 16): the random term is then independent of the draw, so everything is exact.
    distiller = md.ManifoldDistiller(teacher, student, kd="soft", alpha=0.3, beta=2.0, temperature=2.0,
                                     w_sample=0.5, w_patch=3.0, w_rand=0.7, num_samples=64,
                                     student_layers=[0, 2], teacher_layers=[1, 3])
    smoothing = 0.1
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True,
                                                                                 label_smoothing=smoothing))
    assert distiller.distilled_student and teacher.trainable is False
    s_out = {k: keras.ops.convert_to_numpy(v) for k, v in student.intermediate_model(
        ["logits_cls", "logits_dist", "block_0", "block_2"])(images).items()}
    t_out = {k: keras.ops.convert_to_numpy(v) for k, v in teacher.intermediate_model(
        ["logits", "block_1", "block_3"])(images).items()}
    smoothed = labels * (1 - smoothing) + smoothing / 5
    ce = reference_ce(s_out["logits_cls"], smoothed)  # CE on the class head
    kd = reference_soft_kd(s_out["logits_dist"], t_out["logits"], 2.0)  # KD on the distillation head
    layers = [reference_manifold(s_out[s], t_out[t], range(64)) for s, t in (("block_0", "block_1"),
                                                                             ("block_2", "block_3"))]
    manifold = np.mean([0.5 * r["sample"] + 3.0 * r["patch"] + 0.7 * r["random"] for r in layers])
    expected = 0.7 * ce + 0.3 * kd + 2.0 * manifold
    loss = float(distiller.compute_loss(images, labels, distiller(images, training=False), training=False))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    logged = {m.name: float(m.result()) for m in distiller.metrics if m.name != "loss"}
    np.testing.assert_allclose(logged["student_loss"], ce, rtol=1e-4)
    np.testing.assert_allclose(logged["distillation_loss"], kd, rtol=1e-4)
    np.testing.assert_allclose(logged["manifold_patch"], np.mean([r["patch"] for r in layers]), rtol=1e-4)
    np.testing.assert_allclose(logged["manifold_sample"], np.mean([r["sample"] for r in layers]), rtol=1e-4)
    np.testing.assert_allclose(logged["manifold_random"], np.mean([r["random"] for r in layers]), rtol=1e-4)
    np.testing.assert_allclose(logged["manifold_loss"], manifold, rtol=1e-4)
    np.testing.assert_allclose(logged["total_loss"], expected, rtol=1e-4)


def test_hard_kd_on_a_plain_student_uses_its_single_head():
    student, teacher = _tiny_deit(distilled=False), _tiny_cait()
    images, labels = _batch()
    distiller = md.ManifoldDistiller(teacher, student, kd="hard", manifold=False, alpha=0.5)
    distiller.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    logits = keras.ops.convert_to_numpy(student(images))
    teacher_argmax = np.eye(5)[keras.ops.convert_to_numpy(teacher(images)).argmax(-1)]
    expected = 0.5 * reference_ce(logits, labels) + 0.5 * reference_ce(logits, teacher_argmax)
    loss = float(distiller.compute_loss(images, labels, distiller(images), training=False))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_train_step_updates_the_student_only_and_runs_the_teacher_in_inference_mode():
    student, teacher = _tiny_deit(), _tiny_cait(drop_path_rate=0.5)  # training=True would make it random
    images, labels = _batch(8)
    distiller = md.ManifoldDistiller(teacher, student, w_rand=0.0, num_samples=16)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False,
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    first = float(distiller.compute_loss(images, labels, distiller(images), training=True))
    assert first == float(distiller.compute_loss(images, labels, distiller(images), training=True))
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    student_before = [w.numpy().copy() for w in student.trainable_weights]
    history = distiller.fit(images, labels, batch_size=8, epochs=1, verbose=0).history
    assert {"manifold_patch", "manifold_sample", "manifold_random", "distillation_loss", "student_loss"} <= set(history)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(teacher_before, teacher.weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(student_before, student.trainable_weights))


@pytest.mark.parametrize("change, message", [
    (dict(input_shape=(32, 32, 3)), "16x16 images and teacher.*32x32.*Fix"),
    (dict(input_shape=(16, 16, 1)), "3-channel images and teacher.*1-channel.*Fix"),
    (dict(num_classes=7), "predicts 5 classes and teacher.*7.*Fix"),
])
def test_incompatible_teachers_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        md.ManifoldDistiller(_tiny_cait(**change), _tiny_deit())


def test_k_larger_than_the_replica_batch_tokens_is_refused_when_the_run_is_built(tmp_path):
    teacher_path = tmp_path / "teacher.keras"
    teacher_path.write_bytes(b"")  # the config only checks that it exists
    config = md.DistillConfig(teacher_checkpoint=str(teacher_path), num_samples=4 * 16 + 1)
    with pytest.raises(ValueError, match="per-replica batch \\* tokens = 4 \\* 16 = 64.*Fix"):
        md.build_distiller(config, _tiny_deit(), _tiny_cait(), replica_batch=4)
    assert md.build_distiller(config.replace(num_samples=64), _tiny_deit(), _tiny_cait(), replica_batch=4).pairs


# ---------------------------------------------------------------- config and teacher loading

def test_distill_config_defaults_are_the_papers_command(tmp_path):
    teacher_path = str(tmp_path / "teacher.keras")
    open(teacher_path, "w").close()
    config = md.DistillConfig(teacher_checkpoint=teacher_path)
    assert (config.distillation, config.alpha, config.beta, config.tau) == ("manifold", 1.0, 1.0, 1.0)
    assert (config.w_sample, config.w_patch, config.w_rand, config.num_samples) == (0.1, 4.0, 0.2, 192)
    assert config.train.model == "deit_tiny" and isinstance(config.train, TrainConfig)
    assert md.DistillConfig.from_json is not None and md.DistillConfig.from_dict(config.to_dict()) == config
    values = flags.FlagValues()
    define_config_flags(md.DistillConfig, values)  # every training flag plus the method's, no clashes
    assert {"model", "epochs", "mixup", "teacher_checkpoint", "student_layers", "w_patch", "num_samples"} <= set(values)


@pytest.mark.parametrize("fields, message", [
    (dict(), "teacher_checkpoint=None: distillation='manifold' needs a trained teacher. Fix"),
    (dict(teacher_checkpoint="missing/model.keras"), "no such file. Fix"),
    (dict(teacher_checkpoint="EXISTING.pth"), "teacher=None: a PyTorch checkpoint needs the teacher's"),
    (dict(teacher_checkpoint="EXISTING.keras", student_layers=[0, 1], teacher_layers=[0]), "different|1 teacher"),
    (dict(teacher_checkpoint="EXISTING.keras", distillation="soft", student_layers=[0], teacher_layers=[0]),
     "only used by distillation='manifold'"),
    (dict(teacher_checkpoint="EXISTING.keras", alpha=1.5), "alpha=1.5: must be <= 1.0"),
    (dict(teacher_checkpoint="EXISTING.keras", student_layers=[-1], teacher_layers=[0]), "must be >= 0"),
    (dict(teacher_checkpoint="EXISTING.txt"), "not a .keras file"),
    (dict(distillation="manifest"), "did you mean 'manifold'"),
])
def test_distill_config_errors_name_the_fix(tmp_path, fields, message):
    for key, value in fields.items():
        if isinstance(value, str) and value.startswith("EXISTING"):
            path = tmp_path / value.replace("EXISTING", "teacher")
            path.write_bytes(b"")
            fields[key] = str(path)
    with pytest.raises(ConfigError, match=message):
        md.DistillConfig(**fields)


def test_no_teacher_baseline_needs_no_checkpoint():
    assert md.DistillConfig(distillation="none").teacher_checkpoint is None


def test_teacher_loading_checks_the_file_against_the_run(tmp_path):
    teacher = _tiny_cait()
    path = str(tmp_path / "teacher.keras")
    teacher.save(path)
    loaded = md.load_teacher(path, 5, (16, 16, 3))
    assert loaded.trainable is False and [t.name for t in md.list_taps(loaded)][-1] == "block_3"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(_batch()[0])),
                               keras.ops.convert_to_numpy(teacher(_batch()[0])), atol=1e-6)
    with pytest.raises(ValueError, match="holds 'cait_s24', not the teacher 'cmt_tiny'.*Fix"):
        md.load_teacher(path, 5, (16, 16, 3), teacher="cmt_tiny")
    with pytest.raises(ValueError, match="shape \\(16, 16, 3\\) and the run's student \\(28, 28, 1\\).*Fix"):
        md.load_teacher(path, 5, (28, 28, 1))
    with pytest.raises(ValueError, match="predicts 5 classes and the dataset has 10.*Fix"):
        md.load_teacher(path, 10, (16, 16, 3))
    with pytest.raises(FileNotFoundError, match="does not exist.*Fix"):
        md.load_teacher(str(tmp_path / "nothing.keras"), 5, (16, 16, 3))
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not be loaded.*Fix"):
        md.load_teacher(str(broken), 5, (16, 16, 3))
    imagenet_head = tmp_path / "imagenet.npz"
    np.savez(imagenet_head, **{"head.weight": np.zeros((1000, 24), "float32")})
    with pytest.raises(ValueError, match="predicts 1000 classes and the dataset has 5.*fine-tune"):
        md.load_teacher(str(imagenet_head), 5, (16, 16, 3), teacher="cait_s24")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"head.weight": np.zeros((5, 24), "float32"), "unrelated.weight": np.zeros(3, "float32")})
    with pytest.raises(ValueError, match="does not fit the teacher 'cait_s24'.*Fix"):
        md.load_teacher(str(wrong), 5, (16, 16, 3), teacher="cait_s24",
                        teacher_kwargs=dict(patch_size=4, embed_dim=24, depth=4, num_heads=2))
