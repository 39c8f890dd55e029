"""Image folders in the ImageNet layout: `root/<split>/<class>/<image>.jpg|jpeg|png|bmp|gif`.

Unreadable files never crash an epoch. A cheap scan when the source is built leaves out files
that are empty, are not images (wrong magic bytes) or are truncated (a JPEG without its end
marker, a PNG without its IEND chunk); they are counted and listed in `ImageSource.skipped`.
A file that passes the scan but still fails to decode is dropped by the pipeline
(`ignore_errors`) with a logged warning.
"""

import os

import numpy as np

from keras_hire.data.source import IMAGENET_MEAN, IMAGENET_STD, ImageSource, index_dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def image_folder(root, split):
    """An `ImageSource` over `root/<split>/<class>/*`; classes are the sorted subfolder names."""
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
        entries = os.listdir(root) if os.path.isdir(root) else []
        available = sorted(d for d in entries if os.path.isdir(os.path.join(root, d)))
        raise FileNotFoundError(
            f"Image folder split {split_dir!r} does not exist. Expected the ImageNet layout "
            f"root/<split>/<class>/<image>.jpg; splits found under {root!r}: {available or 'none'}."
        )
    class_names = sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))
    if not class_names:
        raise FileNotFoundError(f"{split_dir!r} has no class subfolders; expected {split_dir}/<class>/<image>.jpg.")
    paths, labels, skipped = [], [], []
    for label, class_name in enumerate(class_names):
        class_dir = os.path.join(split_dir, class_name)
        for file_name in sorted(os.listdir(class_dir)):
            if not file_name.lower().endswith(IMAGE_EXTENSIONS):
                continue
            path = os.path.join(class_dir, file_name)
            if looks_readable(path):
                paths.append(path)
                labels.append(label)
            else:
                skipped.append(path)
    if not paths:
        raise FileNotFoundError(f"No readable images under {split_dir!r} ({len(skipped)} unreadable skipped).")
    if skipped:
        print(f"[keras_hire.data] {split_dir}: skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]}")

    def make_dataset(shuffle_seed=None, order=None):
        import tensorflow as tf

        path_tensor, label_tensor = tf.constant(paths), tf.constant(labels, tf.int32)
        indices = index_dataset(len(paths), shuffle_seed, order)
        dataset = indices.map(lambda i: (_decode(tf.gather(path_tensor, i)), tf.gather(label_tensor, i)),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.ignore_errors(log_warning=True)

    return ImageSource(
        name=f"folder:{root}", split=split, num_examples=len(paths), class_names=tuple(class_names),
        channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, make_dataset=make_dataset, skipped=tuple(skipped),
        labels=np.asarray(labels, np.int32),
    )


def looks_readable(path):
    """Cheap integrity check from the first and last bytes; no decoding."""
    try:
        size = os.path.getsize(path)
        if size < 16:
            return False
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(max(size - 32, 0))
            tail = handle.read()
    except OSError:
        return False
    if head.startswith(b"\xff\xd8"):  # JPEG: must end with the EOI marker (trailing padding allowed)
        return b"\xff\xd9" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail
    return head.startswith((b"GIF87a", b"GIF89a", b"BM"))


def _decode(path):
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image
