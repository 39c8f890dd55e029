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

    from keras_hire.benchmark.coverage import xnnpack_coverage
    from keras_hire.deploy.xnnpack_islands import with_xnnpack_float_islands
    from keras_hire.export import to_tflite, verify_against_keras
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
    for quantization in ("float32", "int8"):
        flatbuffer = to_tflite(model, quantization, representative_data=[digits("train", 200)[0]])
        islands = {}
        if quantization == "int8":  # the cell input's standalone int8 RELU runs in float (docs/robustness.md)
            flatbuffer, islands = with_xnnpack_float_islands(flatbuffer)
        row = verify_against_keras(model, flatbuffer, test_images, test_labels)
        row["float_islands"] = islands
        row["not_delegated"] = xnnpack_coverage(flatbuffer)["not_delegated"]
        row["size_bytes"] = len(flatbuffer)
        results[quantization] = row
        print(quantization, json.dumps(row), flush=True)
    atomic_write_json(args.output, results)


if __name__ == "__main__":
    main()
