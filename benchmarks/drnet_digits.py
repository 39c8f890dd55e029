"""DRNet reproduced on the embedded digits: accuracy against average MACs for several targets, beside
fixed resolutions, a random-resolution baseline at equal average MACs, the same baselines after a
stage 1 as long as DRNet's two stages together (equal training budget), and shared BN.

    python benchmarks/drnet_digits.py --seeds=3 --output=benchmarks/results/drnet_digits

The 28x28 digits are upsampled to the largest resolution (64) and resized to 64/48/32 inside the
model. Per seed and BN variant: one stage 1 (`<norm>_seed<s>/stage1`), a stage 1 of
stage1 + stage2 epochs (`<norm>_seed<s>_long/stage1`: the equal-budget baselines), and one stage 2
per target (`<norm>_seed<s>_target<f>[_eta<eta>]/stage2`, started from the first stage 1 with
`stage1_model`; another --eta and --output reuse the stage 1s of --workdir).
On the 1,000 test digits: each stage-1 classifier at each fixed resolution (MACs without the
predictor), DRNet (each digit at the predictor's choice, predictor included), and the random
baselines (each digit at a resolution drawn with that DRNet's resolution frequencies: the same
expected MACs), with the stage-1 classifiers and with DRNet's own classifier (the same weights as
DRNet: what the predictor's choice adds). Writes <output>.json, .md and .png after every record; a
run started again skips the records its json already holds, and the trainings resume from their
checkpoints; `--remeasure` measures every record again from the trained models.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_integer("seeds", 3, "Seeds (initialisation, data order, Gumbel noise).")
flags.DEFINE_list("resolutions", ["64", "48", "32"], "Candidate resolutions.")
flags.DEFINE_list("target_fractions", ["0.1", "0.3", "0.5"], "Targets with resolution-aware BN, each this fraction "
                  "of the way from the least cost to the most.")
flags.DEFINE_list("shared_target_fractions", ["0.5"], "Targets of the shared-BN ablation (empty: no ablation).")
flags.DEFINE_boolean("equal_budget", True, "Also train a stage 1 of stage1 + stage2 epochs for the baselines.")
flags.DEFINE_boolean("remeasure", False, "Measure every record again from the trained models in --workdir, "
                     "training nothing (e.g. after adding a row).")
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


def fixed_predictions(classifier, images):
    """The class predicted for every image at every resolution of a stage-1 `DRResNet`."""
    import numpy as np

    from keras_hire.methods.dynamic_resolution import resize

    return np.stack([np.argmax(classifier.classifier_at(i).predict(np.asarray(resize(images, size)), verbose=0,
                                                                    batch_size=256), -1)
                     for i, size in enumerate(classifier.resolutions)])


def fixed_rows(predictions, labels, resolutions, costs):
    """`{resolution: {"accuracy", "macs"}}` of `fixed_predictions` (costs without the predictor)."""
    return {str(size): {"accuracy": float(np.mean(p == labels)), "macs": float(cost)}
            for size, p, cost in zip(resolutions, predictions, costs)}


def random_row(predictions, labels, mix, costs, seed):
    """Each image classified at a resolution drawn with DRNet's frequencies `mix` (same expected MACs)."""
    drawn = np.random.default_rng(seed).choice(len(mix), size=len(labels), p=mix)
    return {"accuracy": float(np.mean(np.choose(drawn, predictions) == labels)), "macs": float(np.dot(mix, costs))}


def drnet_record(drnet, baselines, images, labels, seed):
    """DRNet on `images`, and the random baselines drawn with its resolution frequencies: the stage-1
    classifiers', and DRNet's own classifier's (`random_drnet_classifier`: the same weights, so it
    isolates what the predictor's choice adds)."""
    out = drnet.infer(images)
    chosen = np.searchsorted(-np.asarray(drnet.resolutions), -out["resolution"])
    mix = np.bincount(chosen, minlength=len(drnet.resolutions)) / len(chosen)
    record = {"drnet": {"accuracy": float(np.mean(np.argmax(out["logits"], -1) == labels)),
                        "macs": float(np.mean(out["macs"])), "mix": mix.tolist()}}
    baselines = {**baselines, "fixed_drnet_classifier": fixed_predictions(drnet.classifier, images)}
    for name, predictions in baselines.items():
        record[name.replace("fixed", "random")] = random_row(predictions, labels, mix, drnet.costs, seed)
    return record


def main(argv):
    del argv
    import keras

    from keras_hire.methods.dynamic_resolution import DRNetConfig, resolution_costs, run_drnet
    from keras_hire.methods.dynamic_resolution.run import build_classifier, build_predictor
    from keras_hire.training import TrainConfig

    resolutions = tuple(int(r) for r in FLAGS.resolutions)
    settings = {"resolutions": list(resolutions), "classifier": CLASSIFIER, "predictor": PREDICTOR, "eta": FLAGS.eta,
                "stage1_epochs": FLAGS.stage1_epochs, "stage2_epochs": FLAGS.stage2_epochs,
                "learning_rate": FLAGS.learning_rate, "steps_per_epoch": FLAGS.steps_per_epoch}
    results = {"settings": settings, "runs": []}
    if os.path.exists(FLAGS.output + ".json"):
        with open(FLAGS.output + ".json") as handle:
            earlier = json.load(handle)
        if earlier.get("settings") != json.loads(json.dumps(settings)):
            raise SystemExit(f"{FLAGS.output}.json holds results of other settings ({earlier.get('settings')}). Pass "
                             "another --output, or the same settings to add to it.")
        results = earlier
    if FLAGS.remeasure:
        results["runs"] = []
    done = {(r["seed"], r["norm"], r.get("target_fraction")) for r in results["runs"]}
    train_or_check = check_trained if FLAGS.remeasure else run_drnet
    norms = {"per_resolution": FLAGS.target_fractions, "shared": FLAGS.shared_target_fractions}

    def config_for(seed, norm, name, epochs, **kwargs):
        train = TrainConfig(model="resnet18", model_kwargs=CLASSIFIER, epochs=epochs, learning_rate=FLAGS.learning_rate,
                            warmup_epochs=0.5, jit_compile=False, seed=seed, verbose=2, tensorboard=False,
                            steps_per_epoch=FLAGS.steps_per_epoch, model_dir=os.path.join(FLAGS.workdir, name))
        return DRNetConfig(train=train, resolutions=resolutions, norm=norm, eta=FLAGS.eta, **PREDICTOR, **kwargs)

    def record(row):
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
        write(results)

    images = labels = None
    for seed in range(FLAGS.seeds):
        for norm, fractions in norms.items():
            if not fractions:
                continue
            base = config_for(seed, norm, f"{norm}_seed{seed}", FLAGS.stage1_epochs, stage="1")
            classifier = build_classifier(base, 10, 1)
            classifier_costs = resolution_costs(classifier)
            costs = resolution_costs(classifier, build_predictor(base, 1))
            if images is None:
                images, labels = evaluation_arrays(base)
            train_or_check(base)
            stage1_path = os.path.join(base.train.model_dir, "stage1", "model.keras")
            baselines = {"fixed": fixed_predictions(keras.models.load_model(stage1_path, compile=False), images)}
            if FLAGS.equal_budget:
                long = config_for(seed, norm, f"{norm}_seed{seed}_long", FLAGS.stage1_epochs + FLAGS.stage2_epochs,
                                  stage="1")
                train_or_check(long)
                baselines["fixed_equal_budget"] = fixed_predictions(keras.models.load_model(
                    os.path.join(long.train.model_dir, "stage1", "model.keras"), compile=False), images)
            if (seed, norm, None) not in done:
                record({"seed": seed, "norm": norm, **{name: fixed_rows(p, labels, resolutions, classifier_costs)
                                                       for name, p in baselines.items()}})
            for fraction in map(float, fractions):
                if (seed, norm, fraction) in done:
                    continue
                target = min(costs) + fraction * (max(costs) - min(costs))
                eta = "" if FLAGS.eta == 1.0 else f"_eta{FLAGS.eta:g}"  # other etas share the stage 1s
                stage2 = config_for(seed, norm, f"{norm}_seed{seed}_target{fraction:g}{eta}", FLAGS.stage2_epochs,
                                    stage="2", stage1_model=stage1_path, target_macs=target)
                train_or_check(stage2)
                drnet = keras.models.load_model(os.path.join(stage2.train.model_dir, "stage2", "model.keras"),
                                                compile=False)
                record({"seed": seed, "norm": norm, "target_fraction": fraction, "target_macs": target,
                        **drnet_record(drnet, baselines, images, labels, seed)})


def check_trained(config):
    """`--remeasure`: the stage `config` runs must have been trained already."""
    path = os.path.join(config.train.model_dir, f"stage{config.stage}", "model.keras")
    if not os.path.exists(path):
        raise SystemExit(f"--remeasure: {path} does not exist; run without --remeasure to train it first.")


def summary(results):
    """`{(norm, target fraction or None, row): (mean accuracy, std, mean macs, seeds)}` over the seeds."""
    groups = {}
    for run in results["runs"]:
        fraction = run.get("target_fraction")
        for name, value in run.items():
            if name.startswith("fixed"):
                for size, row in value.items():
                    groups.setdefault((run["norm"], None, f"{name} {size}"), []).append(row)
            elif name == "drnet" or name.startswith("random"):
                groups.setdefault((run["norm"], fraction, name), []).append(value)
    return {key: (float(np.mean([r["accuracy"] for r in rows])), float(np.std([r["accuracy"] for r in rows])),
                  float(np.mean([r["macs"] for r in rows])), len(rows)) for key, rows in groups.items()}


def write(results):
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    atomic_write_json(FLAGS.output + ".json", results)
    table = summary(results)
    lines = ["| BN | target | row | top-1 (mean ± std) | avg MACs | seeds |", "|---|---|---|---|---|---|"]
    for (norm, fraction, name), (mean, std, macs, n) in sorted(table.items(), key=lambda i: (i[0][0], i[0][1] or -1,
                                                                                            i[0][2])):
        target = "" if fraction is None else f"{fraction:g}"
        lines.append(f"| {norm} | {target} | {name} | {100 * mean:.1f} ± {100 * std:.1f} | {macs / 1e6:.2f} M | {n} |")
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    plot(table, FLAGS.output + ".png")


def plot(table, path):
    """Accuracy against average MACs: one line per row kind, through the fixed resolutions or the targets."""
    from keras_hire.utils.plots import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(10, 4.5))
    styles = {"fixed": ("grey", "-"), "fixed_equal_budget": ("grey", ":"), "drnet": ("C0", "-"),
              "random": ("C1", "-"), "random_equal_budget": ("C1", ":"), "random_drnet_classifier": ("C2", "--")}
    for norm, marker in (("per_resolution", "o"), ("shared", "s")):
        for kind, (color, line) in styles.items():
            points = sorted((m, a, s) for (n, _, row), (a, s, m, _) in table.items()
                            if n == norm and row.split(" ")[0] == kind)
            if points:
                axis.errorbar([p[0] / 1e6 for p in points], [100 * p[1] for p in points],
                              yerr=[100 * p[2] for p in points], fmt=marker + line, color=color, capsize=2,
                              alpha=1.0 if norm == "per_resolution" else 0.5, label=f"{kind} ({norm} BN)")
    axis.set_xlabel("average MACs per digit (M; DRNet and random include the predictor)")
    axis.set_ylabel("top-1 on the 1,000 test digits (%)")
    axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    save_figure(figure, path)


if __name__ == "__main__":
    app.run(main)
