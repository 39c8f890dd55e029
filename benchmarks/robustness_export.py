"""Exports a NADAR hybrid to TFLite (float32 and int8), verifies it against Keras and lists the ops
XNNPACK did not take (target: none).

    python benchmarks/robustness_export.py --model=runs/hybrid/model.keras --output=runs/hybrid/export.json
    python benchmarks/robustness_export.py --output=/tmp/export.json      # a default hybrid, 1 quick epoch

Without `--model`, builds `nadar_hybrid_digits` (optionally `--genotype` JSON) and fits it for one
clean epoch on 2,000 training digits so that top-1 agreement means something. Each conversion
is in this process (tests run the script as a child: TFLiteConverter leaks memory).
"""

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def digits(split, count):
    import numpy as np

    from keras_hire.data import mnist_5k_arrays

    images, labels = mnist_5k_arrays()[split]
    order = np.random.RandomState(0).permutation(len(images))[:count]
    return (images[order].astype("float32") - 0.1307 * 255) / (0.3081 * 255), labels[order]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help=".keras file (default: a quickly trained default hybrid)")
    parser.add_argument("--genotype", type=json.loads, default=None)
    parser.add_argument("--output", required=True)
    parser.add_argument("--num_eval", type=int, default=500)
    args = parser.parse_args()

    import keras

    from keras_hire.deploy import export_tflite_files
    from keras_hire.models import create_model
    from keras_hire.utils import count_macs
    from keras_hire.utils.atomic import atomic_write_json

    if args.model:
        model = keras.models.load_model(args.model, compile=False)
    else:
        keras.utils.set_random_seed(0)
        model = create_model("nadar_hybrid_digits", **({"genotype": args.genotype} if args.genotype else {}))
        images, labels = digits("train", 2000)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(images, labels, epochs=1, batch_size=64, verbose=0)
    test_images, test_labels = digits("test", args.num_eval)
    results = {"model": model.name, "macs": count_macs(model), "params": model.count_params()}
    # export_tflite_files runs the int8 ops XNNPACK refuses (the cell input's standalone RELU) as float islands.
    report = export_tflite_files(model, os.path.splitext(args.output)[0] + "_files", ("float32", "int8"),
                                 representative_images=digits("train", 200)[0], eval_images=test_images,
                                 eval_labels=test_labels)
    for entry in report["files"]:
        row = {key: entry[key] for key in ("agreement", "tflite_accuracy", "keras_accuracy", "max_abs_diff",
                                           "float_islands", "size_bytes")}
        results[entry["quantization"]] = {**row, "not_delegated": entry["xnnpack"]["not_delegated"]}
    atomic_write_json(args.output, results)


if __name__ == "__main__":
    main()
