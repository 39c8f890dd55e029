"""Issue 18's tables on the embedded digits: a standard-layer CNN through the TFMOT bridge, a DeiT natively.

    python benchmarks/qat_digits.py --output_dir=runs/qat_digits        # about 4 minutes a seed on 2 cores
    python benchmarks/qat_digits.py --family=deit --output_dir=runs/qat_deit_digits
    python benchmarks/qat_digits.py --output_dir=/tmp/qd --seeds=0 --float_epochs=1 --epochs=1 \\
        --steps_per_epoch=3                                              # a smoke run

Per seed: `digits_cnn` trained in float (`--float_epochs`) on the 4,000 training digits, then from that
model (`--epochs` per stage): PTQ int8 (the converter, 256 calibration digits), QAT int8, pruned 50%
and 80%, clustered 16 and 32 (all through `compress_with_tfmot`), and at low bits (simulated: TFLite
kernels are 8-bit) TFMOT's n-bit scheme calibrated only (PTQ) against trained (QAT). Every file is
scored on the 1,000 test digits, sized raw and gzipped, and timed on XNNPACK at 1 thread. Writes
`results.json`, `results.md` (mean and spread per row). Finished rows are kept in results.json and
not redone; each compression run resumes from its own folder.

`--family=deit`: `deit_tiny` (patch 4, width 64, depth 4, 2 heads: 0.2 M parameters) trained in float
with the shared trainer's warmup + cosine AdamW, then PTQ int8 (converter), dynamic range, PTQ for ViT
int8 (`quantize_vit` + `export_int8`, 256 calibration digits), and native QAT int8 from minmax and
from the PTQ-for-ViT intervals (`compress_natively`); pruning and clustering are TFMOT's, which cannot
take the DeiT's layers.
"""

import argparse
import gzip
import json
import os
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COMPRESSIONS = {  # row -> CompressConfig fields
    "QAT int8": dict(qat=True),
    "pruned 50%": dict(prune_sparsity=0.5),
    "pruned 80%": dict(prune_sparsity=0.8),
    "clustered 16": dict(clusters=16),
    "clustered 32": dict(clusters=32),
}
LOW_BITS = ((4, 8), (4, 4))  # (weight bits, activation bits)
DEIT = dict(model="deit_tiny", model_kwargs={"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2})
NATIVE_QAT = {"QAT int8 (native, minmax)": "minmax", "QAT int8 (native, PTQ-for-ViT init)": "ptq"}
FAMILY_MODEL = {"cnn": dict(model="digits_cnn"), "deit": DEIT}


def _train_config(args, seed, model_dir, **fields):
    from keras_hire.training import TrainConfig

    base = dict(**FAMILY_MODEL[args.family], epochs=args.epochs, batch_size=64, learning_rate=1e-3, seed=seed,
                verbose=2, tensorboard=False, steps_per_epoch=args.steps_per_epoch, model_dir=model_dir)
    base.update(fields)
    return TrainConfig(**base)


def _file_row(flatbuffer, images, labels):
    import numpy as np

    from keras_hire.benchmark.coverage import xnnpack_coverage
    from keras_hire.benchmark.timing import benchmark_tflite
    from keras_hire.export.interpreter import run_tflite

    accuracy = float(np.mean(run_tflite(flatbuffer, images).argmax(-1) == labels))
    return {"accuracy": accuracy, "bytes": len(flatbuffer), "gzip_bytes": len(gzip.compress(flatbuffer, 9)),
            "latency_ms": benchmark_tflite(flatbuffer, num_threads=1, runs=200)["median_ms"],
            "not_delegated": xnnpack_coverage(flatbuffer)["not_delegated"]}


def _low_bit_rows(args, float_path, seed, images, labels):
    """PTQ (ranges from calibration passes, weights untouched) and QAT at each `LOW_BITS` setting."""
    import numpy as np
    import tensorflow as tf

    from keras_hire.methods.quantization.tf_keras_twin import load_tf_keras, to_tf_keras
    from keras_hire.methods.quantization.tfmot_stages import wrap_n_bit
    from keras_hire.training.run_data import prepare_data
    from keras_hire.utils.keras_files import load_keras_file

    tf_keras = load_tf_keras()
    run = prepare_data(_train_config(args, seed, "unused"))
    rows = {}
    for weight_bits, activation_bits in LOW_BITS:
        tf.keras.utils.set_random_seed(seed)
        model = wrap_n_bit(to_tf_keras(load_keras_file(float_path, "float model")), weight_bits, activation_bits)
        for x, _ in run.train_stream(_train_config(args, seed, "unused"), 0).take(8):  # calibration: ranges only
            model(x, training=True)
        def score(model=model):
            return float(np.mean(model.predict(images, batch_size=256, verbose=0).argmax(-1) == labels))

        rows[f"PTQ W{weight_bits}A{activation_bits} (simulated)"] = {"accuracy": score()}
        model.compile(tf_keras.optimizers.Adam(args.stage_learning_rate), metrics=["accuracy"],
                      loss=tf_keras.losses.CategoricalCrossentropy(from_logits=True))
        model.fit(run.train_stream(_train_config(args, seed, "unused"), 0), epochs=args.epochs,
                  steps_per_epoch=run.steps_per_epoch, verbose=2)
        rows[f"QAT W{weight_bits}A{activation_bits} (simulated)"] = {"accuracy": score()}
    return rows


def _calibration_images(args, seed, count=256):
    """`count` training digits (not the test digits the rows are scored on), as the trainer feeds them."""
    from keras_hire.data.pipeline import eval_arrays
    from keras_hire.training.run_data import prepare_data

    run = prepare_data(_train_config(args, seed, "unused"))
    # as compress_natively draws its calibration set, so the PTQ-for-ViT row's search state serves its ptq init
    images, _ = eval_arrays(run.train_source, run.image_size, run.channels, limit=count,
                            crop_fraction=run.crop_fraction, shuffle_seed=seed)
    return images


def _stage_dir(args, row, seed):
    name = "".join(c if c.isalnum() else "_" for c in row).strip("_")
    return os.path.join(args.output_dir, f"{name}_seed{seed}")


def _float_rows(args, seed, images, labels, done, record):
    """Trains (or finds) the seed's float model and records its float32 and converter PTQ int8 rows."""
    from keras_hire.export import to_tflite
    from keras_hire.training import train
    from keras_hire.utils.keras_files import load_keras_file

    float_dir = os.path.join(args.output_dir, f"float_seed{seed}")
    float_path = os.path.join(float_dir, "model.keras")
    if not os.path.exists(float_path):
        train(_train_config(args, seed, float_dir, epochs=args.float_epochs))
    model = load_keras_file(float_path, "float model")
    calibration = _calibration_images(args, seed)
    if "float32" not in done:
        record({"float32": _file_row(to_tflite(model), images, labels)})
    if "PTQ int8 (converter)" not in done:
        flatbuffer = to_tflite(model, "int8", representative_data=[calibration[i:i + 32] for i in range(0, 256, 32)])
        record({"PTQ int8 (converter)": _file_row(flatbuffer, images, labels)})
    return float_path, model, calibration


def run_seed(args, seed, images, labels, done, record):
    """Every row of one seed that `done` lacks; `record(rows)` adds each to `done` and writes the report."""
    from keras_hire.methods.quantization.qat_config import CompressConfig
    from keras_hire.methods.quantization.tfmot_training import compress_with_tfmot

    float_path, _, _ = _float_rows(args, seed, images, labels, done, record)
    for row, fields in COMPRESSIONS.items():
        if row in done:
            continue
        train = _train_config(args, seed, _stage_dir(args, row, seed), init_checkpoint=float_path,
                              learning_rate=args.stage_learning_rate)
        report = compress_with_tfmot(CompressConfig(train=train, num_calibration=128, **fields))
        with open(report["file"]["path"], "rb") as handle:
            record({row: {**_file_row(handle.read(), images, labels), **report["weights"]}})
    if not all(f"QAT W{w}A{a} (simulated)" in done for w, a in LOW_BITS):
        record(_low_bit_rows(args, float_path, seed, images, labels))


def run_deit_seed(args, seed, images, labels, done, record):
    """The DeiT rows of one seed: the float and converter rows, dynamic range, PTQ for ViT, native QAT."""
    from keras_hire.export import to_tflite
    from keras_hire.methods.quantization import export_int8, quantize_vit
    from keras_hire.methods.quantization.native_qat_training import compress_natively
    from keras_hire.methods.quantization.qat_config import CompressConfig

    float_path, model, calibration = _float_rows(args, seed, images, labels, done, record)
    if "dynamic range" not in done:
        record({"dynamic range": _file_row(to_tflite(model, "dynamic"), images, labels)})
    if "PTQ for ViT int8" not in done:
        # the search is saved where the PTQ-init QAT stage reads it (same model, images, settings): it runs once
        ptq_init_dir = _stage_dir(args, "QAT int8 (native, PTQ-for-ViT init)", seed)
        os.makedirs(ptq_init_dir, exist_ok=True)
        state_path = os.path.join(ptq_init_dir, "ptq_search_state.json")
        result = quantize_vit(model, calibration, bits=8, state_path=state_path,
                              progress=lambda line: print(f"ptq {line}", flush=True))
        record({"PTQ for ViT int8": _file_row(export_int8(result, calibration).flatbuffer, images, labels)})
    for row, init in NATIVE_QAT.items():
        if row in done:
            continue
        # the stage is a short fine-tune: no warmup, the cosine from the stage rate
        train = _train_config(args, seed, _stage_dir(args, row, seed), init_checkpoint=float_path,
                              learning_rate=args.stage_learning_rate, warmup_epochs=0.0)
        report = compress_natively(CompressConfig(train=train, qat=True, qat_init=init, num_calibration=256))
        with open(report["file"]["path"], "rb") as handle:
            record({row: _file_row(handle.read(), images, labels)})


def write_report(args, results):
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    rows = list(dict.fromkeys(row for seed in results.values() for row in seed))
    model = FAMILY_MODEL[args.family]["model"]
    lines = [f"{model} on the embedded digits (4,000 train, 1,000 test), seeds {args.seeds}; float "
             f"{args.float_epochs} epochs (LR 1e-3), each compression stage {args.epochs} (LR "
             f"{args.stage_learning_rate:g}). Sizes and latency: seed "
             f"{min(results)} (XNNPACK, 1 thread, batch 1).", "",
             "| row | top-1 mean (%) | spread (std) | file (KB) | gzipped (KB) | latency (ms) | not on XNNPACK |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = [seed[row] for seed in results.values() if row in seed]
        accuracies = [100 * r["accuracy"] for r in runs]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        first = runs[0]
        size = lambda key: f"{first[key] / 1e3:.1f}" if key in first else "-"  # noqa: E731
        latency = f"{first['latency_ms']:.3f}" if "latency_ms" in first else "-"
        missing = ", ".join(first.get("not_delegated", {})) or ("none" if "not_delegated" in first else "-")
        lines.append(f"| {row} | {statistics.mean(accuracies):.2f} | {spread:.2f} | {size('bytes')} | "
                     f"{size('gzip_bytes')} | {latency} | {missing} |")
    atomic_write_json(os.path.join(args.output_dir, "results.json"), results)
    atomic_write_text(os.path.join(args.output_dir, "results.md"), "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(FAMILY_MODEL), default="cnn",
                        help="cnn: digits_cnn through the TFMOT bridge; deit: deit_tiny through native QAT")
    parser.add_argument("--output_dir", default="runs/qat_digits")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--float_epochs", type=int, default=None, help="default: 5 (cnn), 15 (deit)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each compression stage")
    parser.add_argument("--stage_learning_rate", type=float, default=2e-4,
                        help="Adam learning rate of the compression stages (fine-tuning a trained model; "
                             "1e-3 knocked QAT 0.7 points below the float model)")
    parser.add_argument("--steps_per_epoch", type=int, default=None)
    args = parser.parse_args()
    if args.float_epochs is None:
        args.float_epochs = 15 if args.family == "deit" else 5

    from keras_hire import data

    images, labels = data.eval_arrays(data.get_source("mnist_5k", "test"), (28, 28))
    path = os.path.join(args.output_dir, "results.json")
    results = {}
    if os.path.exists(path):
        with open(path) as handle:
            results = json.load(handle)
    for seed in [int(s) for s in args.seeds.split(",")]:
        done = results.setdefault(str(seed), {})

        def record(rows, done=done):
            done.update(rows)
            write_report(args, results)

        (run_deit_seed if args.family == "deit" else run_seed)(args, seed, images, labels, done, record)
    write_report(args, results)


if __name__ == "__main__":
    main()
