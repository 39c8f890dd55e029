"""Trains a keras_hire model: every flag maps onto a field of `keras_hire.training.TrainConfig`.

    python training/train.py --model=hire_mlp_tiny --dataset=mnist_5k --epochs=8 --model_dir=runs/mnist
    python training/train.py --model=hire_mlp_small --dataset=folder --data_dir=/data/imagenet \
        --image_size=224 --batch_size=256 --epochs=300 --warmup_epochs=20 --mixup=0.8 --cutmix=1.0 \
        --randaugment_ops=2 --random_erasing=0.25 --random_resized_crop --flip --drop_path_rate=0.1 \
        --strategy=mirrored --model_dir=runs/hire_small

A run started again with the same flags resumes from the last checkpoint in --model_dir.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

from keras_hire.training import STRATEGIES, TrainConfig  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "hire_mlp_tiny", "Registry name (keras_hire.models.list_models()).")
flags.DEFINE_string("model_kwargs", "{}", 'JSON constructor overrides, e.g. \'{"depths": [1, 1, 2, 1]}\'.')
flags.DEFINE_string("dataset", "mnist_5k", "mnist_5k (embedded), folder (with --data_dir) or tfds:<name>.")
flags.DEFINE_string("data_dir", None, "Image-folder root (<root>/<split>/<class>/*.jpg) or TFDS data_dir.")
flags.DEFINE_string("train_split", "train", "Training split.")
flags.DEFINE_string("eval_split", None, "Held-out split (default: test/validation/val, whichever exists).")
flags.DEFINE_integer("image_size", None, "Input height = width (default: the dataset's native size, else 224).")
flags.DEFINE_integer("channels", None, "Input channels (default: the dataset's; grey is repeated to 3 if 3).")
flags.DEFINE_integer("epochs", 10, "Epochs.")
flags.DEFINE_integer("batch_size", 64, "Global batch size, split across replicas.")
flags.DEFINE_float("learning_rate", None, "Peak learning rate (default 5e-4 * batch_size / 512).")
flags.DEFINE_float("min_learning_rate", 1e-5, "Learning rate at the end of the cosine decay.")
flags.DEFINE_float("warmup_epochs", 1.0, "Linear warmup length in epochs.")
flags.DEFINE_float("warmup_learning_rate", 1e-6, "Learning rate at step 0.")
flags.DEFINE_float("weight_decay", 0.05, "AdamW weight decay (not applied to biases and norms).")
flags.DEFINE_float("label_smoothing", 0.1, "Label smoothing of the cross-entropy.")
flags.DEFINE_float("mixup", 0.0, "Mixup alpha (0 = off; the papers use 0.8).")
flags.DEFINE_float("cutmix", 0.0, "CutMix alpha (0 = off; the papers use 1.0).")
flags.DEFINE_integer("randaugment_ops", 0, "RandAugment ops per image (0 = off; the papers use 2).")
flags.DEFINE_float("random_erasing", 0.0, "Random-erasing probability (the papers use 0.25).")
flags.DEFINE_bool("random_resized_crop", False, "Inception-style random-resized crop (ImageNet recipe).")
flags.DEFINE_bool("flip", False, "Random horizontal flip.")
flags.DEFINE_float("drop_path_rate", 0.0, "Stochastic depth rate.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "mixed_float16", "mixed_bfloat16"], "Mixed precision policy.")
flags.DEFINE_enum("strategy", "auto", list(STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu (default: $TPU_NAME).")
flags.DEFINE_string("model_dir", "runs/default", "Checkpoints, TensorBoard logs, model.keras, metrics.")
flags.DEFINE_string("init_checkpoint", None, "A .keras file or an official .pth to start from.")
flags.DEFINE_bool("eval_only", False, "Evaluate the last checkpoint (or --init_checkpoint) and exit.")
flags.DEFINE_integer("steps_per_epoch", None, "Cap on steps per epoch (default: a full pass).")
flags.DEFINE_integer("eval_steps", None, "Cap on evaluation batches (default: a full pass).")
flags.DEFINE_integer("seed", 0, "Seed of data order, augmentation and initialisation.")
flags.DEFINE_bool("jit_compile", True, "XLA-compile the train step.")
flags.DEFINE_bool("tensorboard", True, "Write TensorBoard logs to <model_dir>/logs.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 1 = progress bars, 2 = one line per epoch.")


def config_from_flags():
    """A `TrainConfig` whose fields are the flags of the same names."""
    import dataclasses

    values = {field.name: FLAGS[field.name].value for field in dataclasses.fields(TrainConfig)}
    try:
        values["model_kwargs"] = json.loads(FLAGS.model_kwargs)
    except json.JSONDecodeError as error:
        raise app.UsageError(f"--model_kwargs is not valid JSON ({error}): {FLAGS.model_kwargs}")
    return TrainConfig(**values)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from keras_hire.training import train

    report = train(config_from_flags())
    print(json.dumps({"final": report["final"], "model_dir": FLAGS.model_dir}, indent=2))


if __name__ == "__main__":
    app.run(main)
