"""Cost of distillation: train-step time and peak memory of the student alone, soft KD and soft KD +
manifold, and the random term's cost as K grows.

    # the paper's pair at 224, batch 8, on this CPU (each mode in its own process, so peak RSS is its own)
    python benchmarks/distillation_cost.py --pair=paper --batch_size=8 --steps=10 --output=runs/distill_cost.json
    # the small reproduction models of benchmarks/distillation_digits.py (28x28 digits)
    python benchmarks/distillation_cost.py --pair=digits --batch_size=64 --steps=30
    # the random term alone, DeiT-Ti tokens (196 x 192 vs 196 x 384), batch 8
    python benchmarks/distillation_cost.py --random_term_only --batch_size=8 --ks=48,192,768,1568

Timing: `--warmup` steps (XLA compilation included) are dropped, then the median of `--steps` jitted
train steps. Peak memory: the child process's peak resident set (`ru_maxrss`), which includes
TensorFlow itself; compare modes, not absolute values. Reports the manifold overhead as a ratio
of the soft-KD step, measured in the same run (the goal: at most 1.15).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODES = ("student", "soft", "manifold")
PAIRS = {
    "paper": dict(student=("deit_tiny", {}), teacher=("cait_s24", {}), input_shape=(224, 224, 3), classes=1000),
    "digits": dict(student=("deit_tiny", dict(patch_size=4, embed_dim=64, depth=6, num_heads=2)),
                   teacher=("cait_s24", dict(patch_size=4, embed_dim=128, depth=8, num_heads=4)),
                   input_shape=(28, 28, 1), classes=10),
}


def measure_mode(pair, mode, batch_size, steps, warmup):
    """Median seconds per jitted train step and peak RSS (MiB) of one mode, in this process."""
    import resource

    import keras
    import numpy as np

    from keras_hire.methods.distillation import ManifoldDistiller
    from keras_hire.models import create_model

    spec = PAIRS[pair]
    common = dict(num_classes=spec["classes"], input_shape=spec["input_shape"])
    student = create_model(spec["student"][0], **common, **spec["student"][1])
    if mode == "student":
        model = student
    else:
        teacher = create_model(spec["teacher"][0], **common, **spec["teacher"][1])
        model = ManifoldDistiller(teacher, student, kd="soft", manifold=mode == "manifold",
                                  num_samples=min(192, batch_size * 49))
    model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), jit_compile=True)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size,) + spec["input_shape"]).astype("float32")
    labels = np.eye(spec["classes"], dtype="float32")[rng.integers(0, spec["classes"], batch_size)]
    model.train_on_batch(images, labels)  # builds and compiles
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        model.train_on_batch(images, labels)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "median_step_s": statistics.median(times), "peak_rss_mib": peak_mib}


def measure_random_term(batch_size, ks, repeats=20):
    """Seconds of one manifold_loss call (forward and gradient) per K, DeiT-Ti <- CaiT-S24 token shapes."""
    import numpy as np
    import tensorflow as tf

    from keras_hire.methods.distillation import manifold_loss

    rng = np.random.default_rng(0)
    student = tf.Variable(rng.normal(size=(batch_size, 198, 192)).astype("float32"))
    teacher = tf.constant(rng.normal(size=(batch_size, 196, 384)).astype("float32"))
    results = []
    for k in ks:
        @tf.function(jit_compile=True)
        def step(k=k):
            with tf.GradientTape() as tape:
                terms = manifold_loss(student, teacher, num_samples=k, seed=0)
                loss = 4.0 * terms["patch"] + 0.1 * terms["sample"] + 0.2 * terms["random"]
            return tape.gradient(loss, student)

        step()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step().numpy()
            times.append(time.perf_counter() - start)
        results.append({"K": k, "median_s": statistics.median(times)})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="digits")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--random_term_only", action="store_true")
    parser.add_argument("--ks", default="48,192,768,1568")
    parser.add_argument("--child_mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.child_mode:  # one mode, in a fresh process
        print("RESULT" + json.dumps(measure_mode(args.pair, args.child_mode, args.batch_size, args.steps,
                                                  args.warmup)))
        return
    if args.random_term_only:
        report = {"random_term": measure_random_term(args.batch_size, [int(k) for k in args.ks.split(",")])}
    else:
        rows = []
        for mode in MODES:
            command = [sys.executable, os.path.abspath(__file__), f"--pair={args.pair}", f"--child_mode={mode}",
                       f"--batch_size={args.batch_size}", f"--steps={args.steps}", f"--warmup={args.warmup}"]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(output.split("RESULT")[-1]))
            print(rows[-1], flush=True)
        by_mode = {row["mode"]: row for row in rows}
        report = {"pair": args.pair, "batch_size": args.batch_size, "rows": rows,
                  "manifold_over_soft": by_mode["manifold"]["median_step_s"] / by_mode["soft"]["median_step_s"],
                  "soft_over_student": by_mode["soft"]["median_step_s"] / by_mode["student"]["median_step_s"]}
    print(json.dumps(report, indent=2))
    if args.output:
        from keras_hire.utils.atomic import atomic_write_json

        atomic_write_json(args.output, report)


if __name__ == "__main__":
    main()
