"""keras_hire.data: embedded split, determinism, resume order, augmentation, image folders, TFDS."""

import hashlib
import os

import numpy as np
import pytest

from keras_hire import data


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _first_batches(stream, count):
    iterator = iter(stream)
    return [tuple(t.numpy() for t in next(iterator)) for _ in range(count)]


def test_mnist_5k_split_is_fixed_stratified_and_disjoint():
    arrays = data.mnist_5k_arrays()
    train_images, train_labels = arrays["train"]
    test_images, test_labels = arrays["test"]
    assert train_images.shape == (4000, 28, 28, 1) and test_images.shape == (1000, 28, 28, 1)
    assert train_images.dtype == np.uint8
    assert np.bincount(test_labels).tolist() == [100] * 10
    assert np.bincount(train_labels).tolist() == [400] * 10
    train_set = {image.tobytes() for image in train_images}
    assert not any(image.tobytes() in train_set for image in test_images)
    # Pinned: the test split must never change between releases (accuracies would not compare).
    assert _digest(test_labels) == _digest(np.repeat(np.arange(10, dtype=np.int32), 100))
    assert int(test_images.astype(np.int64).sum()) == PINNED_TEST_PIXEL_SUM


PINNED_TEST_PIXEL_SUM = 26241847


def test_sources_by_name_and_unknown_name_error():
    source = data.get_source("mnist_5k", "test")
    assert (source.num_examples, source.num_classes, source.channels, source.native_size) == (1000, 10, 1, (28, 28))
    with pytest.raises(ValueError, match="tfds:<name>"):
        data.get_source("mnist", "train")
    with pytest.raises(ValueError, match="data_dir"):
        data.get_source("folder", "train")


def test_train_stream_is_deterministic_seeded_and_resumable():
    source = data.get_source("mnist_5k", "train")
    steps = data.steps_per_epoch(source, 500)
    assert steps == 8
    first = _first_batches(data.train_dataset(source, (28, 28), 500, seed=3), steps + 2)
    again = _first_batches(data.train_dataset(source, (28, 28), 500, seed=3), 2)
    other = _first_batches(data.train_dataset(source, (28, 28), 500, seed=4), 1)
    np.testing.assert_array_equal(first[0][0], again[0][0])
    np.testing.assert_array_equal(first[1][1], again[1][1])
    assert not np.array_equal(first[0][0], other[0][0])
    # Epoch 1 of an uninterrupted stream == the first epoch of a stream resumed at epoch 1.
    resumed = _first_batches(data.train_dataset(source, (28, 28), 500, seed=3, start_epoch=1), 2)
    np.testing.assert_array_equal(first[steps][0], resumed[0][0])
    np.testing.assert_array_equal(first[steps + 1][1], resumed[1][1])
    # Each epoch is a permutation of the data, reshuffled per epoch.
    assert not np.array_equal(first[0][1], first[steps][1])
    labels = np.concatenate([b[1] for b in first[:steps]]).argmax(-1)
    assert np.bincount(labels, minlength=10).tolist() == [400] * 10
    # Normalised with the dataset statistics.
    images = np.concatenate([b[0] for b in first[:steps]])
    assert abs(images.mean()) < 0.05 and abs(images.std() - 1) < 0.05


def test_batch_larger_than_split_is_a_clear_error():
    with pytest.raises(ValueError, match="smaller --batch_size"):
        data.steps_per_epoch(data.get_source("mnist_5k", "test"), 5000)


def test_augmentation_recipe_runs_with_keras_layers_and_is_deterministic():
    source = data.get_source("mnist_5k", "train")
    augment = data.AugmentConfig.imagenet()
    assert (augment.mixup, augment.cutmix, augment.randaugment_ops, augment.random_erasing) == (0.8, 1.0, 2, 0.25)
    def run():
        return _first_batches(data.train_dataset(source, (32, 32), 16, seed=1, augment=augment, channels=3), 2)

    first, second = run(), run()
    images, labels = first[0]
    assert images.shape == (16, 32, 32, 3) and labels.shape == (16, 10)
    np.testing.assert_allclose(labels.sum(-1), 1.0, rtol=1e-5)
    assert (labels.max(-1) < 1.0).any()  # mixed labels
    np.testing.assert_allclose(images, second[0][0], rtol=1e-5, atol=1e-5)
    augmenter = data.BatchAugmenter(augment, data.IMAGENET_MEAN, data.IMAGENET_STD)
    assert type(augmenter.randaugment).__name__ == "RandAugment"  # Keras 3's own layers
    assert type(augmenter.mixup).__name__ == "MixUp" and type(augmenter.cutmix).__name__ == "CutMix"


def test_eval_arrays_grey_to_rgb_and_center_crop_sizes():
    source = data.get_source("mnist_5k", "test")
    images, labels = data.eval_arrays(source, (32, 32), channels=3, limit=20)
    assert images.shape == (20, 32, 32, 3) and labels.shape == (20,)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    # A seeded subset is a random (class-mixed) and repeatable draw; stored order is by class.
    subset, subset_labels = data.eval_arrays(source, (28, 28), limit=50, shuffle_seed=0)
    assert len(np.unique(subset_labels)) > 3
    np.testing.assert_array_equal(subset, data.eval_arrays(source, (28, 28), limit=50, shuffle_seed=0)[0])


def _write_image_folder(root):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 5), ("val", 2)):
        for name in ("cat", "dog"):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i in range(count):
                pixels = rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(os.path.join(folder, f"{i}.{'png' if i % 2 else 'jpg'}"))
    cat = os.path.join(root, "train", "cat")
    open(os.path.join(cat, "empty.jpg"), "wb").close()
    with open(os.path.join(cat, "text.jpg"), "w") as handle:
        handle.write("this is not an image at all, just text")
    with open(os.path.join(cat, "0.jpg"), "rb") as handle:
        jpeg = handle.read()
    with open(os.path.join(cat, "truncated.jpg"), "wb") as handle:
        handle.write(jpeg[: len(jpeg) // 2])
    # Valid header and end marker, garbage inside: passes the scan, fails to decode.
    with open(os.path.join(cat, "garbled.jpg"), "wb") as handle:
        handle.write(jpeg[:4] + b"\x00" * (len(jpeg) - 6) + b"\xff\xd9")
    with open(os.path.join(cat, "notes.txt"), "w") as handle:
        handle.write("ignored: not an image extension")


def test_image_folder_skips_and_counts_unreadable_files(tmp_path):
    root = str(tmp_path)
    _write_image_folder(root)
    train = data.get_source("folder", "train", data_dir=root)
    assert train.class_names == ("cat", "dog")
    assert len(train.skipped) == 3 and {os.path.basename(p) for p in train.skipped} == {
        "empty.jpg", "text.jpg", "truncated.jpg"}
    assert train.num_examples == 11  # 10 good + the garbled one, which the pipeline drops
    assert data.eval_split_name("folder", root) == "val"
    # Full passes (train stream over several epochs and eval) never crash on the garbled file.
    augment = data.AugmentConfig(random_resized_crop=True, flip=True)
    stream = data.train_dataset(train, (16, 16), 4, seed=0, augment=augment)
    batches = _first_batches(stream, 3 * data.steps_per_epoch(train, 4))
    assert batches[0][0].shape == (4, 16, 16, 3)
    images, labels = data.eval_arrays(train, (16, 16))
    assert len(images) == 10 and sorted(np.bincount(labels).tolist()) == [5, 5]
    with pytest.raises(FileNotFoundError, match="root/<split>/<class>"):
        data.get_source("folder", "test", data_dir=root)


def test_tfds_not_prepared_is_a_clear_error(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(data.DatasetNotPreparedError, match="tfds build mnist"):
        data.get_source("tfds:mnist", "train", data_dir=str(tmp_path))


def test_tfds_source_feeds_the_pipeline():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        source = data.get_source("tfds:mnist", "train")
        assert source.num_classes == 10 and source.channels == 1
        images, labels = next(iter(data.train_dataset(source, (28, 28), 4, seed=0)))
        assert images.shape == (4, 28, 28, 1) and labels.shape == (4, 10)
