"""DRNet reproduced on the embedded digits: accuracy against average MACs, beside fixed resolutions,
a random-resolution baseline at equal average MACs, and shared BN instead of resolution-aware BN.

    python benchmarks/drnet_digits.py --seeds=3 --output=benchmarks/results/drnet_digits

The 28x28 digits are upsampled to the largest resolution (64) and resized to 64/48/32 inside the
model. Per seed and BN variant (resolution-aware, shared): `run_drnet` (both stages on the shared
trainer), then on the 1,000 test digits: the stage-2 classifier at each fixed resolution, DRNet
(each digit at the predictor's choice), and the random baseline (each digit at a resolution drawn
with DRNet's resolution frequencies, so the same expected MACs). Writes <output>.json, <output>.md
and <output>.png; the json is rewritten after every run, so a killed run keeps what it finished.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("seeds", 3, "Seeds (initialisation, data order, Gumbel noise).")
flags.DEFINE_list("resolutions", ["64", "48", "32"], "Candidate resolutions.")
flags.DEFINE_list("norms", ["per_resolution", "shared"], "BN variants to train.")
flags.DEFINE_float("target_fraction", 0.5, "Target MACs: this fraction of the way from the least cost to the most.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (a quick check; default a full pass).")
flags.DEFINE_float("eta", 1.0, "FLOPs-loss weight.")
flags.DEFINE_integer("stage1_epochs", 4, "Stage-1 epochs.")
flags.DEFINE_integer("stage2_epochs", 3, "Stage-2 epochs.")
flags.DEFINE_float("learning_rate", 2e-3, "Peak learning rate.")
flags.DEFINE_string("workdir", "runs/drnet_digits", "Run directories.")
flags.DEFINE_string("output", "benchmarks/results/drnet_digits", "Output stem (.json, .md, .png).")
FLAGS = flags.FLAGS

# A small ResNet-18-style classifier and predictor (the digits are 10 classes of 28x28 strokes).
CLASSIFIER = dict(depths=[1, 1, 1, 1], channels=[16, 32, 48, 64], stem_width=16)
PREDICTOR = dict(predictor_size=32, predictor_channels=(16, 16, 32, 32), predictor_stem_width=16)


def evaluation_arrays(config):
    import numpy as np

    from keras_hire.training.run_data import prepare_data

    run = prepare_data(config.train.replace(image_size=config.resolutions[0]))
    images, labels = [], []
    for x, y in run.eval_stream(256):
        images.append(x.numpy())
        labels.append(np.argmax(y.numpy(), -1))
    return np.concatenate(images), np.concatenate(labels)


def measure(drnet, stage1, images, labels, seed):
    """On `images`: the stage-1 classifier at each fixed resolution (MACs without the predictor),
    DRNet, and the random baseline (stage-1 classifier, each image at a resolution drawn with
    DRNet's resolution frequencies: the same expected MACs, predictor included as DRNet's)."""
    import numpy as np

    from keras_hire.methods.dynamic_resolution import resize
    from keras_hire.utils import count_macs

    fixed = [np.argmax(stage1.classifier_at(i).predict(np.asarray(resize(images, size)), verbose=0,
                                                        batch_size=256), -1)
             for i, size in enumerate(drnet.resolutions)]
    predictor_macs = count_macs(drnet.predictor)
    out = drnet.infer(images)
    chosen = np.searchsorted(-np.asarray(drnet.resolutions), -out["resolution"])
    mix = np.bincount(chosen, minlength=len(drnet.resolutions)) / len(chosen)
    drawn = np.random.default_rng(seed).choice(len(mix), size=len(labels), p=mix)
    random_predictions = np.choose(drawn, fixed)
    return {
        "fixed": {str(size): {"accuracy": float(np.mean(p == labels)), "macs": cost - predictor_macs}
                  for size, p, cost in zip(drnet.resolutions, fixed, drnet.costs)},
        "drnet": {"accuracy": float(np.mean(np.argmax(out["logits"], -1) == labels)),
                  "macs": float(np.mean(out["macs"])), "mix": mix.tolist()},
        "random": {"accuracy": float(np.mean(random_predictions == labels)),
                   "macs": float(np.dot(mix, drnet.costs))},
    }


def main(argv):
    del argv
    import keras

    from keras_hire.methods.dynamic_resolution import DRNetConfig, resolution_costs, run_drnet
    from keras_hire.methods.dynamic_resolution.run import build_classifier, build_predictor
    from keras_hire.training import TrainConfig

    resolutions = tuple(int(r) for r in FLAGS.resolutions)
    results = {"settings": {"resolutions": resolutions, "classifier": CLASSIFIER, "predictor": PREDICTOR,
                            "eta": FLAGS.eta, "stage1_epochs": FLAGS.stage1_epochs,
                            "stage2_epochs": FLAGS.stage2_epochs, "learning_rate": FLAGS.learning_rate},
               "runs": []}
    for seed in range(FLAGS.seeds):
        for norm in FLAGS.norms:
            train = TrainConfig(model="resnet18", model_kwargs=CLASSIFIER, epochs=FLAGS.stage1_epochs,
                                learning_rate=FLAGS.learning_rate, warmup_epochs=0.5, jit_compile=False,
                                seed=seed, verbose=2, tensorboard=False, steps_per_epoch=FLAGS.steps_per_epoch,
                                model_dir=os.path.join(FLAGS.workdir, f"{norm}_seed{seed}"))
            config = DRNetConfig(train=train, resolutions=resolutions, norm=norm, eta=FLAGS.eta,
                                 stage1_epochs=FLAGS.stage1_epochs, stage2_epochs=FLAGS.stage2_epochs, **PREDICTOR)
            costs = resolution_costs(build_classifier(config, 10, 1), build_predictor(config, 1))
            target = min(costs) + FLAGS.target_fraction * (max(costs) - min(costs))
            config = config.replace(target_macs=target)
            run_drnet(config)
            drnet = keras.models.load_model(os.path.join(train.model_dir, "stage2", "model.keras"), compile=False)
            stage1 = keras.models.load_model(os.path.join(train.model_dir, "stage1", "model.keras"), compile=False)
            images, labels = evaluation_arrays(config)
            row = {"seed": seed, "norm": norm, "target_macs": target, **measure(drnet, stage1, images, labels, seed)}
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            write(results)


def summary(results):
    """`{(norm, row): (mean accuracy, std, mean macs)}` over the seeds."""
    import numpy as np

    groups = {}
    for run in results["runs"]:
        rows = {f"fixed {size}": value for size, value in run["fixed"].items()}
        rows.update(drnet=run["drnet"], random=run["random"])
        for name, value in rows.items():
            groups.setdefault((run["norm"], name), []).append((value["accuracy"], value["macs"]))
    return {key: (float(np.mean([a for a, _ in v])), float(np.std([a for a, _ in v])),
                  float(np.mean([m for _, m in v])), len(v)) for key, v in groups.items()}


def write(results):
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text
    from keras_hire.utils.plots import pyplot, save_figure

    atomic_write_json(FLAGS.output + ".json", results)
    table = summary(results)
    lines = ["| BN | row | top-1 (mean ± std) | avg MACs | seeds |", "|---|---|---|---|---|"]
    for (norm, name), (mean, std, macs, n) in sorted(table.items()):
        lines.append(f"| {norm} | {name} | {100 * mean:.1f} ± {100 * std:.1f} | {macs / 1e6:.2f} M | {n} |")
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for norm, marker in (("per_resolution", "o"), ("shared", "s")):
        for name, color in (("fixed", "grey"), ("drnet", "C0"), ("random", "C1")):
            points = [(m, a, s) for (n, row), (a, s, m, _) in table.items() if n == norm and row.startswith(name)]
            if points:
                axis.errorbar([p[0] / 1e6 for p in points], [100 * p[1] for p in points],
                              yerr=[100 * p[2] for p in points], fmt=marker, color=color, label=f"{name} ({norm} BN)")
    axis.set_xlabel("average MACs per digit (M, predictor included)")
    axis.set_ylabel("top-1 on the 1,000 test digits (%)")
    axis.legend(fontsize=7)
    save_figure(figure, FLAGS.output + ".png")


if __name__ == "__main__":
    app.run(main)
