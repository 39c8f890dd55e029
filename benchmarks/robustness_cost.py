"""Cost of robust training on the reproduction's models, measured in one run (ratios to clean training).

    python benchmarks/robustness_cost.py --output=benchmarks/results/robustness_cost.json --steps=10

Times `--steps` train steps (after 2 warm-up steps that include tracing) of batch `--batch_size` for:
clean training, PGD-7 training, FreeAT (m = 4) on `digits_cnn`, and one search step of
`DilationSearch` (PGD-2 per half batch), each as a TensorFlow graph and XLA-compiled (the trainer's
`--jit_compile`, on by default); and the throughput of a PGD-20 evaluation (images/s).
Writes JSON and a markdown table beside it. Absolute times depend on the machine and its load;
the ratios to clean training in the same run are the figures to read.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MEAN, STD = (0.1307 * 255,), (0.3081 * 255,)


def time_steps(model, images, onehot, batch_size, steps, jit_compile):
    import keras

    model.compile(keras.optimizers.Adam(1e-3), keras.losses.CategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    model.fit(images[:2 * batch_size], onehot[:2 * batch_size], batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(images[:steps * batch_size], onehot[:steps * batch_size], batch_size=batch_size, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--nosearch", action="store_true", help="skip the search step (slow to trace)")
    args = parser.parse_args()

    import keras
    import numpy as np

    from keras_hire.benchmark.machine import machine_description, machine_line
    from keras_hire.data import mnist_5k_arrays
    from keras_hire.methods.robustness import Attack, with_normalization
    from keras_hire.methods.robustness.adversarial_training import AdversarialTraining
    from keras_hire.methods.robustness.search import DilationSearch
    from keras_hire.models import create_model
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    images, labels = mnist_5k_arrays()["train"]
    order = np.random.RandomState(0).permutation(len(images))
    images = (images[order].astype("float32") - MEAN[0]) / STD[0]
    onehot = np.eye(10, dtype="float32")[labels[order]]
    keras.utils.set_random_seed(0)
    builders = {
        "clean": lambda: create_model("digits_cnn"),
        "pgd7": lambda: AdversarialTraining(create_model("digits_cnn"), MEAN, STD, "pgd", 0.3, 0.1, 7),
        "free_m4": lambda: AdversarialTraining(create_model("digits_cnn"), MEAN, STD, "free", 0.3, 0.3, replays=4,
                                               replica_batch=args.batch_size),
    }
    if not args.nosearch:
        builders["search"] = lambda: DilationSearch((28, 28, 1), 10, MEAN, STD, steps=2, step_size=0.15)
    rows = {}
    for name, build in builders.items():
        for jit_compile in (False, True):
            key = name + (" (XLA)" if jit_compile else "")
            rows[key] = time_steps(build(), images, onehot, args.batch_size, args.steps, jit_compile)
            print(f"[robustness_cost] {key}: {rows[key]:.3f} s/step", flush=True)
    pixel_model = with_normalization(create_model("digits_cnn"), MEAN, STD)
    pixels = np.clip(images[:512] * (STD[0] / 255) + MEAN[0] / 255, 0, 1)
    Attack.pgd(0.3, 0.03, 20)(pixel_model, pixels[:64], labels[order][:64])  # warm-up (tracing)
    start = time.perf_counter()
    Attack.pgd(0.3, 0.03, 20)(pixel_model, pixels, labels[order][:512], batch_size=128)
    throughput = 512 / (time.perf_counter() - start)
    result = {"seconds_per_step": rows, "ratio_to_clean": {k: v / rows["clean"] for k, v in rows.items()},
              "pgd20_images_per_second": throughput, "batch_size": args.batch_size, "steps": args.steps,
              "machine": machine_description()}
    atomic_write_json(args.output, result)
    lines = [machine_line(), "", "| training step | s/step | x clean (graph) |", "|---|---|---|"]
    lines += [f"| {k} | {v:.3f} | {v / rows['clean']:.1f} |" for k, v in rows.items()]
    lines.append(f"\nPGD-20 evaluation: {throughput:.0f} images/s (digits_cnn, batch 128).")
    atomic_write_text(os.path.splitext(args.output)[0] + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
