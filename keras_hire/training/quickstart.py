"""The quickstart run: train a small Hire-MLP on the embedded digits, export, verify, benchmark.

`run_quickstart()` is what `quickstart.sh` / `training/quickstart.py` run; it returns the summary
table (accuracy, size, latency, XNNPACK coverage of Keras, TFLite float32 and int8) as markdown.
"""

import dataclasses
import os
import time
from typing import Tuple

from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field

# A 4-stage Hire-MLP small enough for a 2-core CPU; 28x28 grey digits go in as they are.
QUICKSTART_MODEL_KWARGS = {"depths": [1, 1, 2, 1], "embed_dims": [32, 64, 96, 128]}


@dataclasses.dataclass
class QuickstartConfig(Config):
    """The flags of training/quickstart.py."""

    model_dir: str = config_field("runs/quickstart", help="Output folder.")
    epochs: int = config_field(8, help="Training epochs.", min=1)
    num_threads: Tuple[int, ...] = config_field((1, 2), help="Benchmark thread counts.", min=1)


def quickstart_config(model_dir, epochs=8):
    return TrainConfig(
        model="hire_mlp_tiny", model_kwargs=dict(QUICKSTART_MODEL_KWARGS), dataset="mnist_5k", epochs=epochs,
        batch_size=64, learning_rate=2e-3, warmup_epochs=1, weight_decay=0.05, label_smoothing=0.1,
        model_dir=model_dir, verbose=2, tensorboard=False,
    )


def run_quickstart(model_dir="runs/quickstart", epochs=8, threads=(1, 2), log=print):
    """Trains (or resumes), exports float32 and int8 TFLite, verifies on the 1,000 test digits, benchmarks.

    Returns `(markdown_table, summary_dict)`; also writes `quickstart.md` and `quickstart.json`
    into `model_dir`.
    """
    from keras_hire.benchmark import benchmark_files
    from keras_hire.deploy import export_keras_file
    from keras_hire.training.trainer import train
    from keras_hire.utils import atomic_write_json, atomic_write_text, markdown_table, megabytes

    started = time.time()
    report = train(quickstart_config(model_dir, epochs))
    trained = time.time()
    model_path = report["model_path"]
    export = export_keras_file(model_path, os.path.join(model_dir, "tflite"), ("float32", "int8"),
                               dataset="mnist_5k", num_calibration=200, num_eval=1000, log=log)
    exported = time.time()
    paths = [entry["path"] for entry in export["files"]]
    bench = benchmark_files(paths, threads=threads, xnnpack_modes=(True,), warmup=20, runs=200, log=log)
    finished = time.time()

    rows = [{"artefact": "Keras (.keras, incl. AdamW state)", "accuracy": f"{100 * export['keras_accuracy']:.2f}%",
             "size": megabytes(os.path.getsize(model_path)), "agreement": "-", "delta": "-"}]
    for entry in export["files"]:
        row = {"artefact": f"TFLite {entry['quantization']}", "accuracy": f"{100 * entry['tflite_accuracy']:.2f}%",
               "size": megabytes(entry["size_bytes"]), "agreement": f"{100 * entry['agreement']:.1f}%",
               "delta": f"{0.0 - entry['accuracy_drop'] + 0.0:+.2f}",
               "delegated": f"{entry['xnnpack']['delegated_count']}/{entry['xnnpack']['total']}",
               "not_delegated": entry["not_delegated"]}
        for result in bench:
            if result["path"] == entry["path"]:
                row[f"ms_{result['num_threads']}"] = f"{result['median_ms']:.3f}"
        rows.append(row)
    columns = [("model", "artefact"), ("test accuracy (1,000 digits)", "accuracy"), ("vs Keras (points)", "delta"),
               ("top-1 agreement", "agreement"), ("size", "size")]
    columns += [(f"median ms, {t} thread{'s' if t > 1 else ''}", f"ms_{t}") for t in threads]
    columns += [("XNNPACK ops", "delegated"), ("not delegated", "not_delegated")]
    table = markdown_table(rows, columns)
    summary = {"rows": rows, "train_seconds": round(trained - started, 1),
               "export_seconds": round(exported - trained, 1),
               "benchmark_seconds": round(finished - exported, 1), "total_seconds": round(finished - started, 1),
               "epochs": epochs, "final": report["final"]}
    timing = (f"\nwall time: {summary['total_seconds']:.0f} s (train {summary['train_seconds']:.0f} s, export + verify "
              f"{summary['export_seconds']:.0f} s, benchmark {summary['benchmark_seconds']:.1f} s)\n")
    atomic_write_text(os.path.join(model_dir, "quickstart.md"), table + timing)
    atomic_write_json(os.path.join(model_dir, "quickstart.json"), summary)
    return table + timing, summary
