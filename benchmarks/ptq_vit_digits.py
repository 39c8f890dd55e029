"""PTQ for ViT (arXiv 2106.14156) reproduced on the embedded digits: the paper's Table 1 and Table 3 shapes.

    python training/train.py --model=deit_tiny --image_size=28 --channels=1 --epochs=15 \\
        --model_kwargs='{"patch_size": 4, "embed_dim": 64, "depth": 4, "num_heads": 2}' \\
        --learning_rate=1e-3 --warmup_epochs=1 --model_dir=runs/deit_digits
    python benchmarks/ptq_vit_digits.py --model=runs/deit_digits/model.keras --output=benchmarks/results/ptq_vit_digits

For each of --seeds calibration draws (--calibration_images training digits each), every row is
quantized and scored on the 1,000 test digits (simulated bits, as in the paper). Writes
<output>.json and <output>.md (mean and spread over the draws). Progress goes to stdout.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_string("model", None, "The trained .keras DeiT.", required=True)
flags.DEFINE_string("output", "benchmarks/results/ptq_vit_digits", "Output stem (.json, .md).")
flags.DEFINE_integer("seeds", 3, "Calibration draws.")
flags.DEFINE_integer("calibration_images", 100, "Calibration images per draw (the paper's CIFAR setting).")
flags.DEFINE_integer("grid_size", 50, "Candidates per search step.")
flags.DEFINE_integer("max_rounds", 5, "Alternating rounds.")
FLAGS = flags.FLAGS
_FLAG_NAMES = ("model", "seeds", "calibration_images", "grid_size", "max_rounds")

# (row, bits, quantize_vit arguments): Table 1 (methods x bit widths), then the Table 3 ablation at 6 bits.
TABLE1 = [(f"{name} W{bits}A{bits}", bits, kwargs) for bits in (8, 6) for name, kwargs in (
    ("percentile", dict(method="percentile")), ("EasyQuant", dict(method="easyquant")),
    ("ours", dict(method="ptq_vit")), ("ours MP", dict(method="ptq_vit", mixed_precision=True)))]
TABLE1 += [("ours MP 4-bit", 4, dict(method="ptq_vit", mixed_precision=True))]
ABLATION = [
    ("similarity only", dict(method="ptq_vit", ranking_weight=0.0, bias_correction=False)),
    ("+ ranking", dict(method="ptq_vit", bias_correction=False)),
    ("+ bias correction", dict(method="ptq_vit")),
    ("+ mixed precision", dict(method="ptq_vit", mixed_precision=True)),
]


def main(_):
    import numpy as np

    from keras_hire.methods.quantization import quantize_vit
    from keras_hire.methods.quantization.config import QuantizeConfig
    from keras_hire.methods.quantization.flow import load_images, load_model
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    model = load_model(QuantizeConfig(model=FLAGS.model))
    rows = [("FP32", 32, None)] + TABLE1 + [(f"ablation W6A6: {n}", 6, k) for n, k in ABLATION]
    results = {name: [] for name, _, _ in rows}
    for seed in range(FLAGS.seeds):
        done = {}  # identical settings (the ablation's last two rows are Table 1 rows) are run once
        config = QuantizeConfig(model=FLAGS.model, calibration_images=FLAGS.calibration_images, seed=seed)
        calibration, images, labels = load_images(config, model)
        for name, bits, kwargs in rows:
            key = (bits, tuple(sorted((kwargs or {}).items())))
            if key not in done:
                if kwargs is None:
                    logits = model.predict(images, batch_size=200, verbose=0)
                else:
                    result = quantize_vit(model, calibration, bits=bits, grid_size=FLAGS.grid_size,
                                          max_rounds=FLAGS.max_rounds, **kwargs)
                    logits = result.model.predict(images, batch_size=200, verbose=0)
                done[key] = float(np.mean(logits.argmax(-1) == labels))
            results[name].append(done[key])
            print(f"[ptq_vit_digits] seed {seed} {name}: {100 * results[name][-1]:.2f}%", flush=True)
            settings = {k: FLAGS[k].value for k in _FLAG_NAMES}
            atomic_write_json(FLAGS.output + ".json", dict(flags=settings, results=results))
    lines = [f"Top-1 on the 1,000 test digits, mean ± std over {FLAGS.seeds} calibration draws of "
             f"{FLAGS.calibration_images} images (grid {FLAGS.grid_size}, {FLAGS.max_rounds} rounds):", "",
             "| row | top-1 (%) |", "|---|---|"]
    for name, _, _ in rows:
        values = 100 * np.asarray(results[name])
        lines.append(f"| {name} | {values.mean():.2f} ± {values.std():.2f} |")
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
