"""`quantize_file`: a trained ViT and a dataset to simulated and int8 TFLite quantizations with a report."""

import os
import time

import numpy as np

from keras_hire.methods.quantization.edge_quantizer import edge_quantizer_files
from keras_hire.methods.quantization.int8_export import TFLITE_BITS, export_int8
from keras_hire.methods.quantization.int8_scales import match_int8_scales
from keras_hire.methods.quantization.ptq_vit import quantize_vit
from keras_hire.methods.quantization.report import write_reports
from keras_hire.utils.keras_files import load_keras_file


def load_model(config):
    """The float model of `config`: a `.keras` file, or a registry model with its `checkpoint`."""

    import keras_hire  # noqa: F401  (registers the custom layers for loading)

    if config.model.endswith(".keras"):
        return load_keras_file(config.model, "--model")
    from keras_hire.models import create_model
    from keras_hire.training.model_setup import load_initial_weights

    model = create_model(config.model, **config.model_kwargs)
    if config.checkpoint:
        load_initial_weights(model, config.checkpoint)
    return model


def load_images(config, model):
    """`(calibration images, held-out images, held-out labels)`, preprocessed as in evaluation."""
    from keras_hire import data
    from keras_hire.data.class_list import checked_arrays

    info = getattr(model, "model_info", None)
    crop = config.eval_crop_fraction or (info.crop_fraction if info is not None else 0.875)
    model_path = config.model if config.model.endswith(".keras") else None
    calibration, _ = checked_arrays(model, model_path, config.dataset, config.train_split, config.data_dir,
                                    config.calibration_images, config.seed, crop, "calibration split")
    eval_split = config.eval_split or data.eval_split_name(config.dataset, config.data_dir)
    images, labels = checked_arrays(model, model_path, config.dataset, eval_split, config.data_dir,
                                    config.eval_images, config.seed, crop, "evaluation split")
    return calibration, images, labels


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))


def quantize_file(config, log=print):
    """Quantizes `config.model` with `config.method` and writes files, `report_<run>.json`, `report.md` and plots.

    8-bit runs also write `<run>.int8.tflite` (the searched intervals in an int8 file, checked against
    the fake-quant model, scales read back), and with `config.compare` the converter's full-int8,
    dynamic-range and float32 files and ai-edge-quantizer's `static_wi8_ai8`, `static_wi8_ai16` and
    `dynamic_wi8_afp32` files of the same float model. Lower bit widths are simulated in Keras only.

    Returns:
        The run's report (dict).
    """
    from keras_hire.benchmark.coverage import format_not_delegated, xnnpack_coverage
    from keras_hire.export import to_tflite, verify_against_keras
    from keras_hire.utils.atomic import atomic_write_bytes

    os.makedirs(config.output_dir, exist_ok=True)
    model = load_model(config)
    calibration, images, labels = load_images(config, model)
    log(f"[quantize] {model.name}: {len(calibration)} calibration and {len(images)} held-out images")
    float_logits = model.predict(images, batch_size=128, verbose=0)
    started = time.time()
    state_path = os.path.join(config.output_dir, f"search_state_{config.run_name}.json")  # a killed run resumes
    result = quantize_vit(model, calibration, bits=config.bits, mixed_precision=config.mixed_precision,
                          method=config.method, grid_size=config.grid_size, max_rounds=config.max_rounds,
                          progress=log, state_path=state_path,
                          objective_tokens=config.objective_tokens)
    search_seconds = time.time() - started
    fake_logits = result.model.predict(images, batch_size=128, verbose=0)
    report = dict(run=config.run_name, model=model.name, config=config.to_dict(), search_seconds=search_seconds,
                  float_accuracy=_accuracy(float_logits, labels), accuracy=_accuracy(fake_logits, labels),
                  model_size_mb=result.report["model_size_mb"], quantization=result.report, files=[])
    log(f"[quantize] float {100 * report['float_accuracy']:.2f}%, {config.run_name} (simulated) "
        f"{100 * report['accuracy']:.2f}%, search {search_seconds:.0f} s")

    def add_file(kind, flatbuffer, reference, reference_logits):
        path = os.path.join(config.output_dir, f"{model.name}.{kind}.tflite")
        atomic_write_bytes(path, flatbuffer)
        coverage = xnnpack_coverage(flatbuffer)
        entry = dict(kind=kind, path=path, size_bytes=len(flatbuffer), not_delegated=format_not_delegated(coverage),
                     **verify_against_keras(reference, flatbuffer, images, labels, keras_logits=reference_logits))
        log(f"[quantize]   {path}: accuracy {100 * entry['tflite_accuracy']:.2f}%, agreement with its Keras "
            f"model {100 * entry['agreement']:.2f}%, not delegated: {entry['not_delegated']}")
        report["files"].append(entry)
        return entry

    if all(i.bits == TFLITE_BITS for i in result.intervals.values()):
        exported = export_int8(result, calibration)
        entry = add_file(f"{config.run_name}.int8", exported.flatbuffer, result.model, fake_logits)
        matched = match_int8_scales(exported.flatbuffer, result.model)
        errors = [abs(m["file_weight_scale"] / m["weight_interval"] - 1) for m in matched.values()]
        entry.update(scales_matched=len(matched), scales_expected=sum("matmul" not in n for n in result.intervals),
                     max_weight_scale_error=max(errors) if errors else None)
        if config.compare:
            add_file("converter_int8", to_tflite(model, "int8", representative_data=[calibration]), model,
                     float_logits)
            add_file("dynamic", to_tflite(model, "dynamic"), model, float_logits)
            add_file("float32", to_tflite(model, "float32"), model, float_logits)
            try:
                edge_files = edge_quantizer_files(model, calibration, log=log)
            except ImportError as error:  # an optional extra: the report is complete without it
                log(f"[quantize] skipping the ai-edge-quantizer comparison: {error}")
                edge_files = {}
            for recipe, flatbuffer in edge_files.items():
                add_file(f"ai_edge_quantizer_{recipe}", flatbuffer, model, float_logits)
    else:
        log(f"[quantize] {config.run_name} has bit widths other than 8: simulated in Keras only "
            "(TFLite has int8 kernels only).")
    write_reports(config.output_dir, report)
    return report
