"""`export_keras_file`: a `.keras` file and a dataset to verified TFLite files (tflite/export.py)."""

import os


def export_keras_file(model_path, output_dir, quantizations=("float32", "float16", "dynamic", "int8"),
                      dataset="mnist_5k", data_dir=None, train_split="train", eval_split=None,
                      num_calibration=200, num_eval=1000, seed=0, log=print, crop_fraction=None):
    """Loads `model_path`, takes calibration images from the training split and held-out images from
    the eval split (preprocessed as in evaluation, at the model's input size, with `crop_fraction` or
    else the model's `ModelInfo.crop_fraction`), and calls `export_tflite_files`. Returns its report.
    """

    import keras_hire  # noqa: F401  (registers the custom layers for loading)
    from keras_hire import data
    from keras_hire.data.class_list import checked_arrays
    from keras_hire.deploy.files import export_tflite_files
    from keras_hire.utils.keras_files import load_keras_file
    from keras_hire.utils.paths import check_writable_dir

    check_writable_dir(output_dir, "output_dir")
    model = load_keras_file(model_path)
    info = getattr(model, "model_info", None)
    crop = crop_fraction or (info.crop_fraction if info is not None else 0.875)
    eval_split = eval_split or data.eval_split_name(dataset, data_dir)
    eval_images = eval_labels = representative = None
    if "int8" in quantizations:
        representative, _ = checked_arrays(model, model_path, dataset, train_split, data_dir, num_calibration, seed,
                                           crop, "calibration split")
    if num_eval:
        eval_images, eval_labels = checked_arrays(model, model_path, dataset, eval_split, data_dir, num_eval, seed,
                                                  crop, "verification split")
    name = os.path.splitext(os.path.basename(model_path))[0]
    if name == "model":
        name = model.name
    return export_tflite_files(model, output_dir, quantizations, representative, eval_images, eval_labels,
                               name=name, log=log)
