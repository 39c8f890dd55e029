"""`export_tflite_files`: a Keras model to verified batch-1 TFLite files plus a report.

Above both `keras_hire.export` (conversion, verification) and `keras_hire.benchmark` (the report
lists each file's XNNPACK coverage), so imports point one way.
"""

import os

from keras_hire.benchmark.coverage import format_delegated, format_not_delegated, xnnpack_coverage
from keras_hire.deploy.xnnpack_islands import with_xnnpack_float_islands
from keras_hire.export.tflite import QUANTIZATIONS, tflite_op_names, to_tflite
from keras_hire.export.verify import verify_against_keras
from keras_hire.utils.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from keras_hire.utils.markdown import markdown_table, megabytes


def export_tflite_files(model, output_dir, quantizations=QUANTIZATIONS, representative_images=None,
                        eval_images=None, eval_labels=None, name=None, log=print, xnnpack_islands=True):
    """Converts `model` once per quantization, writes `<name>.<quantization>.tflite`, checks each file.

    Every file is checked against the Keras model on `eval_images` (held-out, preprocessed):
    top-1 agreement, accuracies and max abs logit difference; and its XNNPACK coverage is listed.
    Writes `export_report.json` and `export_report.md` beside the files (all writes atomic).

    Args:
        model: a Keras model with one image input.
        output_dir: where the files go.
        quantizations: any of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`.
        representative_images: float32 training images for int8 calibration (100-500 is typical).
        eval_images, eval_labels: held-out images (float32, preprocessed) and int labels.
        name: file stem (default: the model's name).
        xnnpack_islands: in the int8 file, run the int8 ops XNNPACK has no kernel for in float between
            (de)quantize ops (`with_xnnpack_float_islands`), so that XNNPACK takes every op; the report's
            `float_islands` names them.

    Returns:
        The report: `{"files": [per-file dict, ...], "keras_accuracy": ...}`.

    Raises:
        keras_hire.export.UnsupportedOpError: a conversion needs a Flex op (named in the message).
    """
    import numpy as np

    name = name or model.name
    keras_logits = None
    if eval_images is not None:
        keras_logits = model.predict(eval_images, batch_size=128, verbose=0)
    entries = []
    for quantization in quantizations:
        log(f"[keras_hire.export] converting {name} to {quantization} ...")
        representative = None
        if quantization == "int8":
            if representative_images is None:
                raise ValueError("int8 export needs representative_images (float32 training images).")
            representative = [np.asarray(representative_images, np.float32)]
        flatbuffer = to_tflite(model, quantization=quantization, representative_data=representative)
        islands = {}
        if quantization == "int8" and xnnpack_islands:
            flatbuffer, islands = with_xnnpack_float_islands(flatbuffer)
        path = os.path.join(output_dir, f"{name}.{quantization}.tflite")
        atomic_write_bytes(path, flatbuffer)
        coverage = xnnpack_coverage(flatbuffer)
        entry = {"quantization": quantization, "path": path, "size_bytes": len(flatbuffer),
                 "num_ops": len(tflite_op_names(flatbuffer)), "xnnpack": coverage,
                 "not_delegated": format_not_delegated(coverage), "float_islands": islands}
        if eval_images is not None:
            entry.update(verify_against_keras(model, flatbuffer, eval_images, eval_labels, keras_logits=keras_logits))
        log(f"[keras_hire.export]   {path}: {megabytes(len(flatbuffer))}, agreement "
            f"{entry.get('agreement', float('nan')):.4f}, not delegated: {entry['not_delegated']}")
        entries.append(entry)
    report = {"model": name, "files": entries}
    if eval_labels is not None and keras_logits is not None:
        report["keras_accuracy"] = float(np.mean(keras_logits.argmax(-1) == np.asarray(eval_labels)))
    atomic_write_json(os.path.join(output_dir, "export_report.json"), report)
    atomic_write_text(os.path.join(output_dir, "export_report.md"), export_markdown(report))
    return report


def export_markdown(report):
    """The export report as a markdown table."""
    columns = [
        ("file", lambda e: os.path.basename(e["path"])),
        ("size", lambda e: megabytes(e["size_bytes"])),
        ("top-1 agreement", "agreement"),
        ("accuracy", "tflite_accuracy"),
        ("Keras accuracy", "keras_accuracy"),
        ("max abs diff", "max_abs_diff"),
        ("XNNPACK ops", lambda e: format_delegated(e["xnnpack"])),
        ("not delegated", "not_delegated"),
    ]
    return f"### TFLite export of {report['model']}\n\n" + markdown_table(report["files"], columns)
