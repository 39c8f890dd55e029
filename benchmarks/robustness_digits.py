"""Reproduction on real data: the Madry MNIST setting on the embedded digits (NADAR, 2108.06885).

    python benchmarks/robustness_digits.py --output_dir=runs/robust_digits            # the study
    python benchmarks/robustness_digits.py --output_dir=/tmp/rd --variants=backbone_pgd --seeds=0 \\
        --epochs=1 --steps_per_epoch=2 --eval_examples=32 --autoattack_examples=8   # a smoke run

Each variant and seed is one `keras_hire.methods.robustness.run.retrain` (PGD-k adversarial
training on the shared trainer) followed by `run.evaluate` (clean accuracy, our PGD-20, ART's
PGD-20 and ART AutoAttack on a seeded subset of the 1,000 test digits):

- `backbone_clean`: `digits_cnn` trained on clean images (reference).
- `backbone_pgd`: `digits_cnn` + PGD-k training.
- `wide_pgd`: `digits_cnn_wide`, the backbone widened to about the hybrid's MACs, + PGD-k.
- `hybrid_pgd` / `hybrid_noconstraint_pgd`: a discretised NADAR hybrid (`--hybrid_kwargs`, from
  `training/nadar.py --mode=search` with and without the constraint) + PGD-k.

Writes `results.json` and `results.md` (mean and spread over seeds). Finished runs are read back.
`--merge` adds the runs of earlier `results.json` files made with the same settings (another seed
run elsewhere), for example:

    python benchmarks/robustness_digits.py --output_dir=runs/rd_seed2 --seeds=2 --variants=backbone_pgd,wide_pgd \
        --merge=benchmarks/results/robustness_digits.json ...   # the table over seeds 0, 1 and 2
"""

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = {"backbone_clean": ("digits_cnn", "clean"), "backbone_pgd": ("digits_cnn", "pgd"),
            "wide_pgd": ("digits_cnn_wide", "pgd"), "hybrid_pgd": ("nadar_hybrid_digits", "pgd"),
            "hybrid_noconstraint_pgd": ("nadar_hybrid_digits", "pgd")}


def run_one(args, variant, seed):
    from keras_hire.methods.robustness import run
    from keras_hire.methods.robustness.config import NadarConfig
    from keras_hire.training import TrainConfig
    from keras_hire.utils.atomic import atomic_write_json

    model, method = VARIANTS[variant]
    kwargs = json.loads(args.hybrid_kwargs.get(variant, "{}")) if model.startswith("nadar") else {}
    model_dir = os.path.join(args.output_dir, f"{variant}-seed{seed}")
    done = os.path.join(model_dir, "robustness.json")
    if os.path.exists(done):
        with open(done) as handle:
            return json.load(handle)
    train = TrainConfig(model=model, model_kwargs=kwargs, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                        batch_size=args.batch_size, learning_rate=args.learning_rate, weight_decay=5e-4,
                        label_smoothing=0.0, seed=seed, tensorboard=False, verbose=2, model_dir=model_dir,
                        jit_compile=args.jit_compile)
    config = NadarConfig(train=train, method=method, epsilon=args.epsilon, step_size=args.step_size,
                         steps=args.steps, eval_steps_pgd=20, eval_step_size=args.eval_step_size,
                         eval_examples=args.eval_examples, autoattack=args.autoattack,
                         autoattack_examples=args.autoattack_examples)
    report = run.retrain(config)
    results = run.evaluate(config, verbose=0)
    results["epoch_seconds"] = [record.get("seconds") for record in
                                report["history"]]
    atomic_write_json(done, results)
    print(f"[robustness_digits] {variant} seed {seed}: {run.summary_line(results)}", flush=True)
    return results


# The settings that change a run's numbers: merged results must share them.
_RUN_SETTINGS = ("epochs", "steps_per_epoch", "batch_size", "learning_rate", "epsilon", "step_size", "steps",
                 "eval_step_size", "eval_examples", "autoattack", "autoattack_examples")


def merged_runs(paths, args, variants):
    """`{variant: [earlier results, ...]}` from the `results.json` files in `paths`, checked against `args`."""
    merged = {variant: [] for variant in variants}
    for path in paths:
        with open(path) as handle:
            earlier = json.load(handle)
        settings = earlier["settings"]
        differing = ", ".join(f"{k}={settings.get(k)}" for k in _RUN_SETTINGS if settings.get(k) != getattr(args, k))
        if differing:
            raise SystemExit(f"--merge {path}: made with other settings ({differing}). Fix: merge only results "
                             "of the same recipe, or pass those settings.")
        for variant in variants:
            merged[variant] += earlier["runs"].get(variant, [])
    return merged


def summarise(rows):
    def stats(values):
        return (statistics.mean(values), statistics.pstdev(values)) if values else (float("nan"), 0.0)

    table = {}
    for variant, results in rows.items():
        table[variant] = {
            "clean": stats([r["clean_accuracy"] for r in results]),
            "pgd20": stats([r["pgd"]["robust_accuracy"] for r in results]),
            "art_pgd20": stats([r["art_pgd"]["robust_accuracy"] for r in results]),
            "autoattack": stats([r["autoattack"]["robust_accuracy"] for r in results if "autoattack" in r]),
            "seeds": len(results)}
    return table


def markdown(table, args):
    lines = [f"eps {args.epsilon} (L-inf, [0, 1] pixels), PGD-{args.steps} training step {args.step_size}, "
             f"{args.epochs} epochs; PGD-20 step {args.eval_step_size} on {args.eval_examples} test digits, ART "
             f"AutoAttack ({args.autoattack}) on {args.autoattack_examples}. Mean ± std over seeds.", "",
             "| variant | seeds | clean | PGD-20 (ours) | PGD-20 (ART) | AutoAttack (ART) |",
             "|---|---|---|---|---|---|"]
    for variant, row in table.items():
        cells = [f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in (row[k] for k in ("clean", "pgd20", "art_pgd20",
                                                                               "autoattack"))]
        lines.append(f"| {variant} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--variants", default="backbone_clean,backbone_pgd,wide_pgd")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps_per_epoch", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--step_size", type=float, default=0.03)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--eval_step_size", type=float, default=0.01)
    parser.add_argument("--eval_examples", type=int, default=500)
    parser.add_argument("--autoattack", default="fast", choices=("none", "fast", "standard"))
    parser.add_argument("--autoattack_examples", type=int, default=100)
    parser.add_argument("--jit_compile", action=argparse.BooleanOptionalAction, default=False,
                        help="XLA-compile the train step (on a CPU it makes the PGD loops about 5x slower)")
    parser.add_argument("--hybrid_kwargs", type=json.loads, default={},
                        help='JSON {variant: model_kwargs JSON string} for the hybrid variants')
    parser.add_argument("--results", default=None, help="results basename (default <output_dir>/results)")
    parser.add_argument("--merge", default="", help="comma-separated results.json files of the same recipe to include")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.output_dir, exist_ok=True)
    earlier = merged_runs([p for p in args.merge.split(",") if p], args, variants)
    rows = {variant: earlier[variant] + [run_one(args, variant, seed) for seed in seeds] for variant in variants}
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    table = summarise(rows)
    base = args.results or os.path.join(args.output_dir, "results")
    atomic_write_json(base + ".json", {"settings": vars(args), "table": table, "runs": rows})
    atomic_write_text(base + ".md", markdown(table, args))
    print(markdown(table, args))


if __name__ == "__main__":
    main()
