"""`run_slimming(config)`: the whole of training/slim.py (search, fine-tune, export, report, picture)."""

import json
import os

import keras
import numpy as np

from keras_hire.methods.slimming.config import SlimConfig
from keras_hire.methods.slimming.search import search_keep_sets
from keras_hire.methods.slimming.significance import unslimmed
from keras_hire.methods.slimming.slim import check_slimmable, slim
from keras_hire.utils.atomic import atomic_save, atomic_write_json, atomic_write_text
from keras_hire.utils.keras_files import load_keras_file


def run_slimming(config: SlimConfig, strategy=None, progress=print):
    """Slims `config.checkpoint` and writes everything a user ships or compares into `train.model_dir`.

    Steps: the search (`search_keep_sets`, resumable in `<model_dir>/search`) or the sets of
    `keep_file`; the whole-model fine-tune on the shared trainer (`keras_hire.training.train`, in
    `<model_dir>/finetune`, resumable); then `model.keras` (slimmed), `keep.json`, TFLite files of
    the original and the slimmed model (`tflite/`), and `slimming_report.json`/`.md` (MACs,
    accuracy, TFLite latency and XNNPACK coverage before and after) and `kept_patches.png`.

    Example:
    ```python
    report = run_slimming(SlimConfig(checkpoint="runs/deit/model.keras",
                                     train=TrainConfig(model="deit_tiny", model_dir="runs/deit_slim")))
    ```
    """
    from keras_hire.training import train
    from keras_hire.training.run_data import prepare_data

    out = config.train.model_dir
    original = load_keras_file(config.checkpoint, "checkpoint")
    check_slimmable(original, "training/slim.py")
    original = unslimmed(original)
    height, width = original.inputs[0].shape[1:3]
    train_config = config.train.replace(image_size=int(height)) if config.train.image_size is None else config.train
    run_data = prepare_data(train_config)
    search_images, _ = _arrays(run_data, run_data.train_source, config.num_search_images, train_config.seed)
    eval_images, eval_labels = _arrays(run_data, run_data.eval_source, config.num_eval, None)

    if config.keep_file:
        with open(config.keep_file) as file:
            keep, searched, log = json.load(file), original, []
        searched_model = slim(searched, keep)
    else:
        result = search_keep_sets(original, search_images, tolerance=config.tolerance,
                                  granularity=config.granularity, block_epochs=config.block_epochs,
                                  block_learning_rate=config.block_learning_rate,
                                  batch_size=min(train_config.batch_size, len(search_images)),
                                  state_dir=os.path.join(out, "search"), progress=progress)
        keep, searched_model, log = result.keep, result.model, result.log
    atomic_write_json(os.path.join(out, "keep.json"), keep)

    slimmed = searched_model
    if config.finetune_epochs > 0:
        weights = os.path.join(out, "search", "searched.weights.h5")
        atomic_save(weights, searched_model.save_weights)

        def build(run_config, num_classes, input_shape):
            model = slim(original, keep)
            model.load_weights(weights)
            return model

        finetune = train_config.replace(epochs=config.finetune_epochs, model_dir=os.path.join(out, "finetune"))
        train(finetune, strategy, build_model=build)
        slimmed = keras.models.load_model(os.path.join(out, "finetune", "model.keras"), compile=False)
    atomic_save(os.path.join(out, "model.keras"), slimmed.save)

    report = dict(checkpoint=config.checkpoint, keep_counts=[len(k) for k in keep], search_log=log,
                  original=_measure(original, "original", eval_images, eval_labels, search_images, config, out),
                  slimmed=_measure(slimmed, "slimmed", eval_images, eval_labels, search_images, config, out))
    report["mac_reduction"] = 1 - report["slimmed"]["macs"] / report["original"]["macs"]
    atomic_write_json(os.path.join(out, "slimming_report.json"), report)
    atomic_write_text(os.path.join(out, "slimming_report.md"), report_markdown(report))
    draw_kept_patches(original, keep, eval_images[0], os.path.join(out, "kept_patches.png"))
    progress(f"slimming: wrote {out}/model.keras, slimming_report.md, kept_patches.png")
    return report


def _arrays(run_data, source, limit, seed):
    from keras_hire import data

    return data.eval_arrays(source, run_data.image_size, run_data.channels, limit=limit,
                            crop_fraction=run_data.crop_fraction, shuffle_seed=seed)


def _measure(model, name, images, labels, calibration, config, out):
    """MACs, Keras accuracy, and per TFLite file its XNNPACK coverage, agreement and latencies."""
    from keras_hire.benchmark.timing import benchmark_tflite
    from keras_hire.deploy.files import export_tflite_files
    from keras_hire.utils import count_macs

    logits = model.predict(images, batch_size=128, verbose=0)
    export = export_tflite_files(model, os.path.join(out, "tflite", name), config.quantizations,
                                 representative_images=calibration, eval_images=images, eval_labels=labels,
                                 name=name, log=lambda line: None)
    files = []
    for entry in export["files"]:
        timings = [benchmark_tflite(entry["path"], num_threads=t, runs=config.latency_runs)
                   for t in config.latency_threads]
        files.append(dict(quantization=entry["quantization"], path=entry["path"], size_bytes=entry["size_bytes"],
                          not_delegated=entry["not_delegated"], accuracy=entry.get("tflite_accuracy"),
                          agreement=entry.get("agreement"),
                          latency_ms={str(t["num_threads"]): t["median_ms"] for t in timings}))
    return dict(macs=count_macs(model), accuracy=float(np.mean(logits.argmax(-1) == labels)), files=files)


def report_markdown(report):
    """The report as a Markdown table: one row per model and TFLite file."""
    lines = [f"# Patch slimming of {report['checkpoint']}", "",
             f"Kept tokens per block: {report['keep_counts']}; MACs -{100 * report['mac_reduction']:.1f}%.", "",
             "| model | MACs (M) | Keras top-1 | file | TFLite top-1 | latency ms (threads) | not on XNNPACK |",
             "|---|---|---|---|---|---|---|"]
    for name in ("original", "slimmed"):
        entry = report[name]
        for file in entry["files"]:
            latency = ", ".join(f"{ms:.2f} ({t})" for t, ms in file["latency_ms"].items())
            accuracy = "-" if file["accuracy"] is None else f"{file['accuracy']:.4f}"
            lines.append(f"| {name} | {entry['macs'] / 1e6:.2f} | {entry['accuracy']:.4f} | {file['quantization']} | "
                         f"{accuracy} | {latency} | {file['not_delegated']} |")
    return "\n".join(lines) + "\n"


def draw_kept_patches(model, keep, image, path):
    """One panel per block: `image` with the patches that block drops greyed out (PNG at `path`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    patch, prefix = model.patch_size, model.num_prefix_tokens
    image = np.asarray(image, np.float32)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    rows, columns = image.shape[0] // patch, image.shape[1] // patch
    panels = len(keep)
    grid = int(np.ceil(np.sqrt(panels)))
    figure, axes = plt.subplots(grid, grid, figsize=(2 * grid, 2 * grid), squeeze=False)
    for block, ax in enumerate(axes.flat):
        ax.axis("off")
        if block >= panels:
            continue
        shown = image.copy()
        kept = {t - prefix for t in keep[block] if t >= prefix}
        for index in range(rows * columns):
            if index not in kept:
                r, c = divmod(index, columns)
                shown[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] *= 0.2
        ax.imshow(shown)
        ax.set_title(f"block {block}: {len(kept)} patches", fontsize=7)
    figure.tight_layout()
    atomic_save(path, lambda temp: figure.savefig(temp, dpi=100))
    plt.close(figure)
