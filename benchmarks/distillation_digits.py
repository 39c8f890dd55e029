"""Reproduction on real data: a data-starved DeiT student on the embedded digits, four ways, 3 seeds.

    python benchmarks/distillation_digits.py --output_dir=runs/distill_digits            # the full study
    # (about 10 minutes a run on 2 idle cores; results in benchmarks/results/distillation_digits.*)
    python benchmarks/distillation_digits.py --output_dir=/tmp/dd --per_class=20 --teacher_epochs=1 \\
        --student_epochs=1 --seeds=0 --steps_per_epoch=2                                   # a smoke run

1. Writes the embedded MNIST digits (`mnist_5k`) as image folders: `full/` (the 4,000 training
   digits) and `starved/` (`--per_class` training digits per class, first in the fixed split's
   order), both with the same 1,000 test digits. Both runs read folders, so teacher and student
   see identically normalised images.
2. Trains the teacher (`--teacher`, default a small CaiT) on `full/`.
3. Trains the student on `starved/` with the same budget for each mode and seed:
   `none` (no teacher), `soft` (soft KD, alpha 1), `hard` (DeiT hard distillation with the
   distillation token, alpha 0.5 as in DeiT) and `manifold` (soft KD + manifold terms, the
   paper's weights). Each run is `keras_hire.methods.distillation.distill`.
4. Writes `results.json`, `results.md` (top-1 mean and spread per mode) and `curves.png`
   (held-out accuracy per epoch, mean over seeds). The paper's direction: manifold > soft > none.
Runs resume: a finished run is read back from its metrics.json. `--recorded=FILE` takes the runs a
results.json of the same study already holds (by mode and seed) instead of training them again; the
teacher is still trained, and its accuracy is checked against the recorded one.
"""

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODES = ("none", "soft", "hard", "manifold")
STUDENT = {"patch_size": 4, "embed_dim": 64, "depth": 6, "num_heads": 2}
TEACHER = {"patch_size": 4, "embed_dim": 128, "depth": 8, "num_heads": 4}


def write_folders(root, per_class):
    """`root/full` and `root/starved` image folders of the embedded digits (PNG); returns their paths."""
    import numpy as np
    import tensorflow as tf

    from keras_hire.data.embedded import mnist_5k_arrays

    arrays = mnist_5k_arrays()
    folders = {"full": os.path.join(root, "full"), "starved": os.path.join(root, "starved")}
    for name, folder in folders.items():
        if os.path.exists(os.path.join(folder, "done")):
            continue
        for split in ("train", "test"):
            images, labels = arrays[split]
            kept = np.arange(len(labels))
            if name == "starved" and split == "train":
                kept = np.concatenate([np.flatnonzero(labels == digit)[:per_class] for digit in range(10)])
            for index in kept:
                directory = os.path.join(folder, split, str(int(labels[index])))
                os.makedirs(directory, exist_ok=True)
                image = np.asarray(images[index], np.uint8).reshape(28, 28, 1)
                tf.io.write_file(os.path.join(directory, f"{index:05d}.png"), tf.io.encode_png(image))
        open(os.path.join(folder, "done"), "w").close()
    return folders


def _train_config(args, **fields):
    from keras_hire.training import TrainConfig

    # The folders hold 28x28 grey digits; without these the models' own 224x224 RGB input is used.
    base = dict(dataset="folder", image_size=28, channels=1, batch_size=args.batch_size,
                learning_rate=args.learning_rate, verbose=2, warmup_epochs=1.0, label_smoothing=0.1,
                steps_per_epoch=args.steps_per_epoch, jit_compile=True)
    base.update(fields)
    return TrainConfig(**base)


def _final(model_dir, run):
    path = os.path.join(model_dir, "metrics.json")
    if os.path.exists(path):
        with open(path) as handle:
            report = json.load(handle)
        if report.get("final"):
            return report
    return run()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="runs/distill_digits")
    parser.add_argument("--per_class", type=int, default=50, help="training digits per class for the student")
    parser.add_argument("--teacher", default="cait_s24")
    parser.add_argument("--teacher_kwargs", default=json.dumps(TEACHER))
    parser.add_argument("--student_kwargs", default=json.dumps(STUDENT))
    parser.add_argument("--teacher_epochs", type=int, default=20)
    parser.add_argument("--student_epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=50, help="the teacher's batch")
    parser.add_argument("--student_batch_size", type=int, default=25, help="more steps on the 500 digits")
    parser.add_argument("--student_learning_rate", type=float, default=5e-4,
                        help="1e-3 at batch 25 collapsed the no-teacher student to chance")
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--steps_per_epoch", type=int, default=None)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--recorded", default=None,
                        help="a results.json of this study whose runs are reused instead of retrained")
    args = parser.parse_args()
    recorded = _recorded_runs(args.recorded)

    import keras

    from keras_hire.methods.distillation import DistillConfig, distill
    from keras_hire.training import train

    folders = write_folders(os.path.join(args.output_dir, "data"), args.per_class)
    teacher_dir = os.path.join(args.output_dir, "teacher")
    teacher_config = _train_config(args, model=args.teacher, model_kwargs=json.loads(args.teacher_kwargs),
                                   data_dir=folders["full"], epochs=args.teacher_epochs, model_dir=teacher_dir)
    teacher_report = _final(teacher_dir, lambda: train(teacher_config))
    teacher_path = os.path.join(teacher_dir, "model.keras")

    results = {"teacher": {"model": args.teacher, "accuracy": teacher_report["final"]["accuracy"]}, "runs": []}
    if recorded and abs(recorded["teacher"]["accuracy"] - results["teacher"]["accuracy"]) > 1e-6:
        raise SystemExit(f"--recorded: its teacher reached {recorded['teacher']['accuracy']:.4f}, this one "
                         f"{results['teacher']['accuracy']:.4f}; the recorded runs used another teacher, so "
                         "drop --recorded and train every run")
    # Seed-major: a study stopped early still compares every mode on the seeds it finished.
    for seed in [int(s) for s in args.seeds.split(",")]:
        for mode in args.modes.split(","):
            if (mode, seed) in recorded.get("runs", {}):
                results["runs"].append(recorded["runs"][(mode, seed)])
                print(f"{mode} seed {seed}: recorded {recorded['runs'][(mode, seed)]['accuracy']:.4f}", flush=True)
                continue
            model_dir = os.path.join(args.output_dir, f"{mode}_seed{seed}")
            student = "deit_tiny_distilled" if mode == "hard" else "deit_tiny"
            config = DistillConfig(
                train=_train_config(args, model=student, model_kwargs=json.loads(args.student_kwargs),
                                    data_dir=folders["starved"], epochs=args.student_epochs, seed=seed,
                                    batch_size=args.student_batch_size, learning_rate=args.student_learning_rate,
                                    model_dir=model_dir),
                distillation=mode, teacher_checkpoint=None if mode == "none" else teacher_path,
                alpha=0.5 if mode == "hard" else 1.0, num_samples=192)
            report = _final(model_dir, lambda config=config: distill(config))
            keras.utils.clear_session(free_memory=True)  # one process, many runs: keep memory flat
            results["runs"].append({"mode": mode, "seed": seed, "accuracy": report["final"]["accuracy"],
                                    "curve": [r.get("val_accuracy") for r in report["history"]]})
            print(f"{mode} seed {seed}: {report['final']['accuracy']:.4f}", flush=True)
            write_report(args, results)  # after every run, so the table is there while the study goes on


def _recorded_runs(path):
    """The teacher and the runs by (mode, seed) of an earlier results.json; empty without a path."""
    if not path:
        return {}
    with open(path) as handle:
        results = json.load(handle)
    return {"teacher": results["teacher"], "runs": {(r["mode"], r["seed"]): r for r in results["runs"]}}


def write_report(args, results):
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text
    from keras_hire.utils.plots import pyplot, save_figure

    plt = pyplot()
    lines = [f"Teacher {results['teacher']['model']} (full 4,000 digits): top-1 "
             f"{100 * results['teacher']['accuracy']:.1f}%", "",
             f"Student DeiT {args.student_kwargs} on {10 * args.per_class} digits, {args.student_epochs} epochs, "
             f"seeds {args.seeds}", "", "| mode | top-1 mean (%) | spread (std, points) | runs |", "|---|---|---|---|"]
    figure, axis = plt.subplots(figsize=(6, 4))
    for mode in MODES:
        runs = [r for r in results["runs"] if r["mode"] == mode]
        if not runs:
            continue
        accuracies = [100 * r["accuracy"] for r in runs]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        lines.append(f"| {mode} | {statistics.mean(accuracies):.2f} | {spread:.2f} | "
                     f"{', '.join(f'{a:.1f}' for a in accuracies)} |")
        curves = [r["curve"] for r in runs if all(v is not None for v in r["curve"])]
        if curves:
            mean_curve = [100 * statistics.mean(values) for values in zip(*curves)]
            axis.plot(range(1, len(mean_curve) + 1), mean_curve, label=mode)
    axis.set_xlabel("epoch")
    axis.set_ylabel("held-out top-1 (%), mean over seeds")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, os.path.join(args.output_dir, "curves.png"), dpi=120)
    atomic_write_json(os.path.join(args.output_dir, "results.json"), results)
    atomic_write_text(os.path.join(args.output_dir, "results.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
