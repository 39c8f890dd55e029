"""The quantization reports of one output folder: per-run JSON, one markdown over all runs, two plots."""

import glob
import json
import os

from keras_hire.utils.atomic import atomic_write_json, atomic_write_text
from keras_hire.utils.markdown import markdown_table, megabytes
from keras_hire.utils.plots import pyplot, save_figure

SIMULATED_NOTE = ("Bit widths below 8 (and the 9-10-bit layers of 8-bit mixed precision) are simulated in Keras: "
                  "TFLite has int8 kernels only.")


def write_reports(output_dir, report):
    """Writes `report_<run>.json`, then `report.md`, `accuracy_vs_size.png` and (mixed precision)
    `bit_allocation_<run>.png` over every run in `output_dir`; returns the markdown."""
    atomic_write_json(os.path.join(output_dir, f"report_{report['run']}.json"), report)
    runs = load_reports(output_dir)
    plot_accuracy_vs_size(runs, os.path.join(output_dir, "accuracy_vs_size.png"))
    if report["quantization"].get("mixed_precision"):
        plot_bit_allocation(report, os.path.join(output_dir, f"bit_allocation_{report['run']}.png"))
    text = reports_markdown(runs)
    atomic_write_text(os.path.join(output_dir, "report.md"), text)
    return text


def load_reports(output_dir):
    """Every `report_*.json` of `output_dir`, sorted by run name."""
    runs = []
    for path in sorted(glob.glob(os.path.join(output_dir, "report_*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    return runs


def reports_markdown(runs):
    """The runs' simulated accuracies and every TFLite file's accuracy, size and XNNPACK coverage."""
    if not runs:
        return "No quantization runs yet.\n"
    lines = [f"# Quantization of {runs[0]['model']}", "", SIMULATED_NOTE, ""]
    rows = [dict(run="float32 (Keras)", accuracy=runs[0]["float_accuracy"], size=None, seconds=None)]
    rows += [dict(run=r["run"], accuracy=r["accuracy"], size=r["model_size_mb"], seconds=r["search_seconds"])
             for r in runs]
    lines.append(markdown_table(rows, [
        ("run", lambda r: r["run"]),
        ("top-1 (simulated)", lambda r: f"{100 * r['accuracy']:.2f}%"),
        ("weights (MB)", lambda r: "" if r["size"] is None else f"{r['size']:.3f}"),
        ("search (s)", lambda r: "" if r["seconds"] is None else f"{r['seconds']:.0f}"),
    ]))
    files = [dict(run=r["run"], **f) for r in runs for f in r["files"]]
    if files:
        lines += ["", "TFLite files (accuracy on the same held-out images; agreement = top-1 agreement with the "
                  "file's own Keras model: the fake-quant model for ours, the float model for the converter's):", ""]
        lines.append(markdown_table(files, [
            ("file", lambda f: f["kind"]),
            ("size", lambda f: megabytes(f["size_bytes"])),
            ("top-1", lambda f: f"{100 * f['tflite_accuracy']:.2f}%"),
            ("agreement", lambda f: f"{100 * f['agreement']:.2f}%"),
            ("scales = searched", lambda f: f"{f['scales_matched']}/{f['scales_expected']}"
             if "scales_matched" in f else ""),
            ("XNNPACK misses", lambda f: f["not_delegated"]),
        ]))
    return "\n".join(lines) + "\n"


def plot_accuracy_vs_size(runs, path):
    """Top-1 against weight size: each simulated run (by method) and each TFLite file."""
    if not runs:
        return None
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    by_method = {}
    for run in runs:
        by_method.setdefault(run["quantization"]["method"], []).append(run)
    for method, members in sorted(by_method.items()):
        members = sorted(members, key=lambda r: r["model_size_mb"])
        axis.plot([r["model_size_mb"] for r in members], [100 * r["accuracy"] for r in members], marker="o",
                  label=f"{method} (simulated)")
        for r in members:
            axis.annotate(r["run"].split("_", 1)[-1] if "_w" in r["run"] else r["run"],
                          (r["model_size_mb"], 100 * r["accuracy"]), fontsize=7, xytext=(3, 3),
                          textcoords="offset points")
    files = {f["kind"]: f for r in runs for f in r["files"]}
    for kind, f in sorted(files.items()):
        axis.scatter([f["size_bytes"] / 1e6], [100 * f["tflite_accuracy"]], marker="s", label=f"{kind}.tflite")
    axis.axhline(100 * runs[0]["float_accuracy"], color="grey", linestyle="--", label="float32")
    axis.set_xlabel("weights (MB; TFLite: file size)")
    axis.set_ylabel("top-1 (%)")
    axis.set_title(f"{runs[0]['model']}: accuracy against size")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_bit_allocation(report, path):
    """The mixed-precision bits of each attention / MLP module beside its nuclear norm."""
    modules = report["quantization"]["mixed_precision"]["modules"]
    names = list(modules)
    plt = pyplot()
    figure, bits_axis = plt.subplots(figsize=(max(6.0, 0.35 * len(names)), 3.8))
    positions = range(len(names))
    bits_axis.bar(positions, [modules[n]["bits"] for n in names], color="tab:blue", label="bits")
    bits_axis.set_ylabel("bits")
    norm_axis = bits_axis.twinx()
    norm_axis.plot(positions, [modules[n]["nuclear_norm"] for n in names], color="tab:red", marker="o",
                   label="nuclear norm")
    norm_axis.set_ylabel("nuclear norm")
    bits_axis.set_xticks(list(positions))
    bits_axis.set_xticklabels(names, rotation=70, fontsize=7)
    bits_axis.set_title(f"{report['model']} {report['run']}: bits per module and sensitivity")
    figure.tight_layout()
    return save_figure(figure, path)
