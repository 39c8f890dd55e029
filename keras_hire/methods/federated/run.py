"""`run_fedpu(config)`: the whole of training/fedpu.py (federation, report, curve, TFLite export)."""

import os
import tempfile

import numpy as np

from keras_hire.methods.federated.config import FedPUConfig
from keras_hire.utils.atomic import atomic_save, atomic_write_json, atomic_write_text


def run_fedpu(config: FedPUConfig, log=print):
    """Runs the federation (`config.runtime`), then writes into `config.model_dir`:
    `federation_state.npz` (after every round; a rerun resumes), `model.keras` (the final global
    model), `fedpu_report.json`/`.md` (accuracy and seconds per round, bytes per client),
    `accuracy.png` and, with `export_tflite`, `tflite/` (float32 file verified against Keras, with
    its XNNPACK coverage). Returns the report dict.
    """
    from keras_hire.methods.federated.simulation import build_model, data_cache_file, load_federation_data, simulate

    model_dir = config.model_dir or tempfile.mkdtemp(prefix="fedpu_")
    config = config.replace(model_dir=model_dir)
    os.makedirs(model_dir, exist_ok=True)
    atomic_write_text(os.path.join(model_dir, "config.json"), config.to_json() + "\n")
    data = load_federation_data(config, cache_dir=model_dir)
    if config.runtime == "simulation":
        state = simulate(config, data, log=log)
    else:
        from keras_hire.methods.federated.flower_local import LocalFederation

        with LocalFederation(config.clients, os.path.join(model_dir, "flower"), log=log) as federation:
            code, output = federation.run_app(config, data_cache=data_cache_file(config, model_dir))
        log(output[-4000:])
        from keras_hire.methods.federated.server import load_state

        state_file = os.path.join(model_dir, "federation_state.npz")
        state = load_state(state_file) if os.path.exists(state_file) else None
        # `flwr run` exits 0 even when the ServerApp raised: the state file says how far it got.
        if code != 0 or state is None or state.round < config.rounds:
            done = 0 if state is None else state.round
            raise RuntimeError(f"the Flower run stopped after round {done} of {config.rounds} (exit code {code}); "
                               f"logs in {model_dir}/flower/. Run again with the same flags to resume.")
    model = build_model(config, data)
    model.set_weights(state.weights)
    atomic_save(os.path.join(model_dir, "model.keras"), model.save)
    report = {"config": config.to_dict(), "rounds": state.history,
              "final_accuracy": state.history[-1]["accuracy"] if state.history else None,
              "clients": [{"client_id": c.client_id, "positive_classes": list(c.positive_classes),
                           "num_examples": c.num_examples, "num_labelled": c.num_labelled,
                           "priors": np.round(c.priors, 4).tolist()} for c in data.clients]}
    if config.export_tflite:
        from keras_hire.deploy.files import export_tflite_files

        export = export_tflite_files(model, os.path.join(model_dir, "tflite"), ("float32",),
                                     eval_images=data.test_images, eval_labels=data.test_labels, log=log)
        report["tflite"] = [{key: entry.get(key) for key in ("path", "size_bytes", "not_delegated", "agreement",
                                                             "tflite_accuracy")} for entry in export["files"]]
    atomic_write_json(os.path.join(model_dir, "fedpu_report.json"), report)
    atomic_write_text(os.path.join(model_dir, "fedpu_report.md"), report_markdown(report))
    plot_accuracy({config.loss: [[r["accuracy"] for r in state.history]]}, os.path.join(model_dir, "accuracy.png"))
    log(f"fedpu: wrote {model_dir}/model.keras, fedpu_report.md, accuracy.png")
    return report


def report_markdown(report):
    config = report["config"]
    lines = [f"# FedPU run: {config['loss']} / {config['aggregator']} on {config['runtime']}", "",
             f"{config['clients']} clients, {config['clients_per_round']} per round, {config['local_epochs']} local "
             f"epochs, model {config['model']}, dataset {config['dataset']}.", "",
             "| round | accuracy | client loss | seconds | bytes per client | failed clients |",
             "|---|---|---|---|---|---|"]
    for r in report["rounds"]:
        lines.append(f"| {r['round']} | {r['accuracy']:.4f} | {r['client_loss']:.4f} | {r['seconds']:.1f} | "
                     f"{r['bytes_per_client']} | {', '.join(r['failed']) or '-'} |")
    return "\n".join(lines) + "\n"


def plot_accuracy(curves, path, title="FedPU: global test accuracy"):
    """`curves`: `{label: [accuracy per round] per seed}`; draws the mean and the min-max band."""
    from keras_hire.utils.plots import pyplot, save_figure

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for label, runs in curves.items():
        runs = np.asarray(runs, np.float64)
        rounds = np.arange(1, runs.shape[1] + 1)
        axis.plot(rounds, runs.mean(0), label=f"{label} ({len(runs)} seed{'s' * (len(runs) > 1)})")
        if len(runs) > 1:
            axis.fill_between(rounds, runs.min(0), runs.max(0), alpha=0.2)
    axis.set_xlabel("round")
    axis.set_ylabel("test accuracy")
    axis.set_title(title)
    axis.legend()
    axis.grid(alpha=0.3)
    save_figure(figure, path)
