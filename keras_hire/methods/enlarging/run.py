"""`run_enlarging`: the greedy search, the compound and width-only baselines at its MACs, the final
trainings over seeds, and the report (JSON, Markdown table, path plot)."""

import os
import statistics

from keras_hire.methods.enlarging.search import _log, greedy_search, search_dir
from keras_hire.methods.enlarging.space import EnlargeState, compound_state, match_macs, width_state
from keras_hire.methods.enlarging.trials import training_config
from keras_hire.utils.atomic import atomic_write_json, atomic_write_text


def num_classes_of(config):
    from keras_hire.data.registry import get_source

    return len(get_source(config.train.dataset, config.train.train_split, config.train.data_dir).class_names)


def baseline_states(config, base, target, num_classes):
    """`{"compound": state, "width": state}` brought to `target` MACs (the searched model's)."""
    makers = {"compound": (lambda phi: compound_state(base, phi, config.compound_coefficients), 0.0, 8.0),
              "width": (lambda w: width_state(base, w), 1.0, 6.0)}
    return {name: match_macs(makers[name][0], target, num_classes, makers[name][1], makers[name][2])
            for name in config.baselines}


def final_trainings(config, arms, num_classes):
    """Trains every arm once per seed (each run resumable); returns `{arm: {"accuracies", "mean", "std", ...}}`."""
    import keras

    from keras_hire.training import train

    results = {}
    for arm, state in arms.items():
        accuracies = []
        for seed in config.seeds:
            directory = os.path.join(config.train.model_dir, "final", f"{arm}_seed{seed}")
            keras.backend.clear_session()
            report = train(training_config(config, state, directory, config.final_epochs, seed=seed,
                                           eval_split=config.final_eval_split))
            accuracies.append(float(report["final"]["accuracy"]))
            _log(f"final {arm} seed {seed}: accuracy {accuracies[-1]:.4f}")
        results[arm] = {"state": state.to_dict(), "macs": state.macs(num_classes), "accuracies": accuracies,
                        "mean": statistics.fmean(accuracies),
                        "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    return results


def run_enlarging(config):
    """Search, baselines, final trainings, report; every stage resumes. Returns the report dict."""
    num_classes = num_classes_of(config)
    searched = greedy_search(config, num_classes)
    base = EnlargeState.from_dict(searched["base"]["state"])
    final = EnlargeState.from_dict(searched["final_state"])
    arms = {"greedy": final, **baseline_states(config, base, final.macs(num_classes), num_classes)}
    report = {"base": searched["base"], "path": [{k: v for k, v in step.items() if k != "trials"}
                                                  for step in searched["path"]],
              "arms": {name: {"state": s.to_dict(), "macs": s.macs(num_classes)} for name, s in arms.items()}}
    if config.final_epochs:
        report["arms"] = final_trainings(config, arms, num_classes)
    report["num_trials"] = sum(len(step["trials"]) for step in searched["path"])
    directory = search_dir(config)
    atomic_write_json(os.path.join(config.train.model_dir, "enlarging_report.json"), report)
    atomic_write_text(os.path.join(config.train.model_dir, "enlarging_report.md"), report_markdown(report))
    plot_path(searched, os.path.join(directory, "path.png"))
    return report


def report_markdown(report):
    lines = ["| arm | depths | channels | resolution | MACs | accuracy (mean ± std over seeds) |",
             "|---|---|---|---|---|---|"]
    for name, arm in report["arms"].items():
        state = arm["state"]
        accuracy = (f"{100 * arm['mean']:.2f} ± {100 * arm['std']:.2f} ({len(arm['accuracies'])} seeds)"
                    if "mean" in arm else "not trained")
        lines.append(f"| {name} | {tuple(state['stage_depths'])} | {tuple(state['stage_channels'])} | "
                     f"{state['resolution']} | {arm['macs']:,} | {accuracy} |")
    greedy, compound = report["arms"].get("greedy", {}), report["arms"].get("compound", {})
    if "mean" in greedy and "mean" in compound and len(greedy["accuracies"]) < 2:
        lines += ["", f"greedy - compound: {100 * (greedy['mean'] - compound['mean']):+.2f} points from one seed: "
                  "no spread, so no claim either way."]
    elif "mean" in greedy and "mean" in compound:
        gap, spread = greedy["mean"] - compound["mean"], max(greedy["std"], compound["std"])
        verdict = "exceeds" if abs(gap) > 2 * spread else "does not exceed"
        lines += ["", f"greedy - compound: {100 * gap:+.2f} points; it {verdict} twice the larger seed spread "
                  f"({200 * spread:.2f} points)."]
    return "\n".join(lines) + "\n"


def plot_path(searched, path):
    """MACs per stage at each step (stacked bars) and the proxy accuracy of every candidate per step."""
    from keras_hire.utils.plots import pyplot, save_figure

    steps = [searched["base"]] + searched["path"]
    figure, (bars, accuracy) = pyplot().subplots(1, 2, figsize=(12, 4))
    labels = ["stem"] + [f"stage {i}" for i in range(6)] + ["head"]
    bottom = [0.0] * len(steps)
    for part, label in enumerate(labels):
        values = [step["stage_macs"][part] / 1e6 for step in steps]
        bars.bar(range(len(steps)), values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    bars.set_xticks(range(len(steps)), ["base"] + [f"{s['step']}: {s['chosen']}" for s in searched["path"]],
                    rotation=45, ha="right", fontsize=7)
    bars.set_ylabel("MMACs")
    bars.legend(fontsize=7)
    for step in searched["path"]:
        values = [t["accuracy"] for t in step["trials"]]
        accuracy.scatter([step["step"]] * len(values), values, s=10, color="grey", alpha=0.6)
    accuracy.plot([s["step"] for s in searched["path"]], [s["accuracy"] for s in searched["path"]], marker="o",
                  label="chosen")
    accuracy.set_xlabel("step")
    accuracy.set_ylabel("proxy validation accuracy")
    accuracy.legend()
    figure.tight_layout()
    return save_figure(figure, path)
