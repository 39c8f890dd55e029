"""`retrain(config)` and `evaluate(config)`: adversarial training on the shared trainer and evaluation
under attack (ours and ART's): the retrain and evaluate modes of training/nadar.py."""

import json
import os

from keras_hire.methods.robustness.adversarial_training import AdversarialTraining
from keras_hire.methods.robustness.config import NadarConfig
from keras_hire.utils.atomic import atomic_write_text

NADAR_CONFIG = "nadar_config.json"  # the whole NadarConfig: --config=<model_dir>/nadar_config.json


def data_stats(train_config):
    """`(mean, std)` (0-255 scale) the pipeline normalises this run's images with."""
    from keras_hire import data

    source = data.get_source(train_config.dataset, train_config.train_split, train_config.data_dir)
    return source.mean, source.std


def replica_batch(batch_size):
    import tensorflow as tf

    return batch_size // tf.distribute.get_strategy().num_replicas_in_sync


def wrap_adversarial(config: NadarConfig, inner):
    """`inner` inside the `AdversarialTraining` the config describes."""
    mean, std = data_stats(config.train)
    return AdversarialTraining(inner, mean, std, method=config.method, epsilon=config.epsilon,
                               step_size=config.step_size, steps=config.steps, replays=config.replays,
                               random_start=config.random_start, replica_batch=replica_batch(config.train.batch_size),
                               seed=config.train.seed)


def retrain(config: NadarConfig, strategy=None, build_inner=None, callbacks=()):
    """Adversarially trains `config.train.model` (PGD-k or FreeAT; `clean` = ordinary training).

    Resume, strategies, reports and `model.keras` (the inner model alone) are the shared trainer's;
    `<model_dir>/nadar_config.json` holds the whole config. `build_inner(train_config, classes,
    shape)` replaces the registry model (the search hands its hybrid in this way); `callbacks` go
    to the trainer.
    """
    from keras_hire.training import build_model, is_chief, train

    if config.method == "clean" and build_inner is None:
        return train(config.train, strategy, callbacks=callbacks)
    make_inner = build_inner or build_model

    def build(train_config, num_classes, input_shape):
        if is_chief() and not train_config.eval_only:
            os.makedirs(train_config.model_dir, exist_ok=True)
            atomic_write_text(os.path.join(train_config.model_dir, NADAR_CONFIG), config.to_json())
        inner = make_inner(train_config, num_classes, input_shape)
        return inner if config.method == "clean" else wrap_adversarial(config, inner)

    deployable = (lambda model: model) if config.method == "clean" else (lambda model: model.inner)
    return train(config.train, strategy, build_model=build, deployable=deployable, callbacks=callbacks)


def test_pixels(config: NadarConfig, limit, input_shape):
    """`limit` held-out images (a seeded subset: stored order is sorted by class) as `[0, 1]` pixels, and labels."""
    from keras_hire import data
    from keras_hire.methods.robustness.pixels import to_pixels

    train = config.train
    split = train.eval_split or data.eval_split_name(train.dataset, train.data_dir)
    source = data.get_source(train.dataset, split, train.data_dir)
    images, labels = data.eval_arrays(source, tuple(input_shape[:2]), channels=input_shape[2], limit=limit,
                                      shuffle_seed=0, crop_fraction=train.eval_crop_fraction or 1.0)
    mean, std = data_stats(train)
    return to_pixels(images, mean, std), labels


def evaluate(config: NadarConfig, model=None, verbose=1):
    """Clean, PGD-k (ours and ART's) and ART AutoAttack accuracy of the trained model.

    Returns (and writes to `<model_dir>/robustness.json`) a dict of the results and the settings.
    """
    import keras

    from keras_hire.methods.robustness.art_eval import ArtAttack
    from keras_hire.methods.robustness.attacks import Attack, robust_accuracy
    from keras_hire.methods.robustness.pixels import with_normalization

    if model is None:
        path = config.checkpoint or os.path.join(config.train.model_dir, "model.keras")
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model to evaluate at {path}. Fix: run --mode=retrain first, or pass "
                                    "--checkpoint=<file.keras>.")
        model = keras.models.load_model(path, compile=False)
    mean, std = data_stats(config.train)
    pixel_model = with_normalization(model, mean, std)
    images, labels = test_pixels(config, config.eval_examples, tuple(model.input_shape[1:]))
    ours = Attack.pgd(config.epsilon, config.eval_step_size, config.eval_steps_pgd)
    results = {"model": model.name, "epsilon": config.epsilon, "eval_step_size": config.eval_step_size,
               "eval_steps": config.eval_steps_pgd, "examples": int(len(images))}
    results["pgd"] = robust_accuracy(pixel_model, (images, labels), ours, verbose=verbose)
    art_pgd = ArtAttack("pgd", config.epsilon, config.eval_step_size, config.eval_steps_pgd)
    results["art_pgd"] = robust_accuracy(pixel_model, (images, labels), art_pgd)
    results["clean_accuracy"] = results["pgd"]["clean_accuracy"]
    if config.autoattack != "none":
        count = min(config.autoattack_examples, len(images))
        autoattack = ArtAttack("autoattack", config.epsilon, config.eval_step_size, preset=config.autoattack)
        results["autoattack"] = robust_accuracy(pixel_model, (images[:count], labels[:count]), autoattack)
    results["pgd_art_gap"] = abs(results["pgd"]["robust_accuracy"] - results["art_pgd"]["robust_accuracy"])
    os.makedirs(config.train.model_dir, exist_ok=True)
    atomic_write_text(os.path.join(config.train.model_dir, "robustness.json"), json.dumps(results, indent=2))
    return results


def summary_line(results):
    parts = [f"clean {results['clean_accuracy']:.4f}", f"PGD-{results['eval_steps']} "
             f"{results['pgd']['robust_accuracy']:.4f}", f"ART PGD {results['art_pgd']['robust_accuracy']:.4f}"]
    if "autoattack" in results:
        parts.append(f"ART AutoAttack {results['autoattack']['robust_accuracy']:.4f} "
                     f"(n={results['autoattack']['examples']})")
    return ", ".join(parts)

