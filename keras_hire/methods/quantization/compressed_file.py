"""The TFLite file a compression run ends with, written atomically and checked: what both QAT paths report."""

import gzip
import os

import numpy as np

from keras_hire.utils.atomic import atomic_write_bytes


def held_out_images(run, count):
    """Up to `count` class-balanced held-out images and int labels of a `RunData`, for the file check."""
    batch = min(count, 64)
    images, labels = [], []
    for x, y in run.eval_stream(batch, num_batches=-(-count // batch)):
        images.append(np.asarray(x))
        labels.append(np.argmax(np.asarray(y), -1))
    return np.concatenate(images)[:count], np.concatenate(labels)[:count]


def write_checked_file(flatbuffer, model_dir, kind, images, labels, keras_logits, log_prefix):
    """Writes `<model_dir>/model.tflite` and returns its facts: size raw and gzipped, XNNPACK coverage, and
    accuracy and agreement against the Keras model's `keras_logits` on `images`."""
    from keras_hire.benchmark.coverage import xnnpack_coverage
    from keras_hire.export.verify import verify_against_keras

    path = os.path.join(model_dir, "model.tflite")
    atomic_write_bytes(path, flatbuffer)
    check = verify_against_keras(None, flatbuffer, images, labels, keras_logits=keras_logits)
    facts = {"path": path, "kind": kind, "bytes": len(flatbuffer), "gzip_bytes": len(gzip.compress(flatbuffer, 9)),
             "xnnpack_not_delegated": xnnpack_coverage(flatbuffer)["not_delegated"], **check}
    print(f"[{log_prefix}] {path}: {kind}, {len(flatbuffer) / 1e6:.2f} MB ({facts['gzip_bytes'] / 1e6:.2f} MB "
          f"gzipped), top-1 {100 * check['tflite_accuracy']:.2f}%, agreement with Keras {check['agreement']:.4f}, "
          f"ops off XNNPACK: {facts['xnnpack_not_delegated'] or 'none'}", flush=True)
    return facts
