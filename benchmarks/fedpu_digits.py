"""FedPU reproduced on the embedded digits: FedAvg on the labelled positives only, FedPU, and fully
supervised FedAvg (the upper bound), over seeds, in the in-process simulation.

    python benchmarks/fedpu_digits.py --rounds=100 --seeds=3 --output=benchmarks/results/fedpu_digits

The released MNIST split (datasets/dataSpilt.py) on the 4,000 training digits: 10 clients of 400
digits, 5 classes each, positive classes [4,4,3,3,2,2,1,1,1,1], 33% of each positive class labelled;
CNNMnist, the released client SGD (lr 0.01, momentum 0.9, x0.992 per round, batch 500, 2 local
epochs), equal-weight FedAvg. The seed drives the split shuffles, the client draws, the batch
orders and the initial weights. Scored on the 1,000 test digits after every round. Each run keeps
its round state in --workdir, so a killed benchmark resumes. Writes <output>.json, .md and .png.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("rounds", 100, "Communication rounds per run.")
flags.DEFINE_integer("seeds", 3, "Seeds per objective.")
flags.DEFINE_integer("clients_per_round", 10, "Clients drawn per round (of 10).")
flags.DEFINE_list("losses", ["positives_only", "fedpu", "supervised"], "Client objectives to compare.")
flags.DEFINE_string("workdir", "runs/fedpu_digits", "Round states of the runs (resume).")
flags.DEFINE_string("output", "benchmarks/results/fedpu_digits", "Output stem (.json, .md, .png).")
FLAGS = flags.FLAGS


def summary_rows(results, rounds):
    """Per objective: mean and spread (std, min-max) over seeds of the final and the best accuracy."""
    rows = []
    for loss, runs in results.items():
        finals = [run[-1] for run in runs]
        bests = [max(run) for run in runs]
        marks = {f"round_{r}": float(sum(run[r - 1] for run in runs) / len(runs)) for r in rounds if r <= len(runs[0])}
        rows.append(dict(loss=loss, seeds=len(runs), final_mean=float(sum(finals) / len(finals)),
                         final_std=_std(finals), final_min=min(finals), final_max=max(finals),
                         best_mean=float(sum(bests) / len(bests)), **marks))
    return rows


def _std(values):
    mean = sum(values) / len(values)
    return float((sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5)


def main(argv):
    del argv
    from keras_hire.methods.federated import FedPUConfig, simulate
    from keras_hire.methods.federated.run import plot_accuracy
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    results, seconds = {}, {}
    for loss in FLAGS.losses:
        for seed in range(FLAGS.seeds):
            config = FedPUConfig(loss=loss, seed=seed, rounds=FLAGS.rounds, clients_per_round=FLAGS.clients_per_round,
                                 model_dir=os.path.join(FLAGS.workdir, f"{loss}_seed{seed}"), export_tflite=False)
            state = simulate(config, log=lambda line, tag=f"{loss} seed {seed}": print(f"[{tag}] {line}", flush=True))
            results.setdefault(loss, []).append([r["accuracy"] for r in state.history])
            seconds.setdefault(loss, []).extend(r["seconds"] for r in state.history)
    marks = sorted({10, 25, 50, FLAGS.rounds} & set(range(1, FLAGS.rounds + 1)))
    rows = summary_rows(results, marks)
    atomic_write_json(FLAGS.output + ".json", dict(rounds=FLAGS.rounds, seeds=FLAGS.seeds, summary=rows,
                                                   curves=results, seconds_per_round={
                                                       k: float(sum(v) / len(v)) for k, v in seconds.items()}))
    lines = [f"# FedPU on the embedded digits ({FLAGS.rounds} rounds, {FLAGS.seeds} seeds)", "",
             "| objective | final top-1 mean | std | min-max | best mean | " + " | ".join(f"round {r}" for r in marks)
             + " |", "|---|---|---|---|---|" + "---|" * len(marks)]
    for row in rows:
        lines.append(f"| {row['loss']} | {row['final_mean']:.4f} | {row['final_std']:.4f} | {row['final_min']:.3f}-"
                     f"{row['final_max']:.3f} | {row['best_mean']:.4f} | "
                     + " | ".join(f"{row[f'round_{r}']:.4f}" for r in marks) + " |")
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    plot_accuracy(results, FLAGS.output + ".png", title="FedPU on the embedded digits (10 clients)")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
