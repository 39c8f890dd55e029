"""`TrainConfig`: every setting of a training run, as one dataclass (the flags of training/train.py)."""

import dataclasses
from typing import Optional

from keras_hire.data.augment import AugmentConfig
from keras_hire.utils.config import Config, config_field

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig(Config):
    """A training run. Field names (nested `augment` ones included) are the flags of `training/train.py`.

    Every method config nests a `TrainConfig`, so every method binary has the same training flags.
    Values are validated on construction (`keras_hire.utils.ConfigError` names the field and the fix).

    Attributes:
        model: a registry name (`keras_hire.models.list_models()`).
        model_kwargs: constructor overrides, e.g. `{"depths": [1, 1, 2, 1]}`.
        dataset: `"mnist_5k"`, `"folder"` or `"tfds:<name>"` (see `keras_hire.data.get_source`).
        data_dir: image-folder root or TFDS data directory.
        train_split, eval_split: split names; `eval_split=None` picks the held-out split.
        image_size: model input height = width; `None` uses the dataset's native size.
        channels: model input channels; `None` uses the dataset's.
        epochs, batch_size: global batch size (split across replicas).
        learning_rate: peak learning rate after warmup; `None` = 5e-4 * batch_size / 512 (DeiT rule).
        min_learning_rate, warmup_epochs, warmup_learning_rate: the warmup + cosine schedule.
        weight_decay: AdamW decoupled weight decay (biases and norm parameters excluded).
        eval_crop_fraction: center-crop fraction of the evaluation resize; `None` uses the model's
            `ModelInfo.crop_fraction` (images already of the model's size are never cropped).
        label_smoothing: label smoothing of the cross-entropy.
        augment: the augmentation recipe (`keras_hire.data.AugmentConfig`); its fields are flags too.
        drop_path_rate: stochastic depth of the model.
        mixed_precision: `"none"`, `"mixed_float16"` or `"mixed_bfloat16"`.
        strategy: one of `STRATEGIES`; `tpu` is the TPU address for `strategy="tpu"`.
        model_dir: checkpoints, TensorBoard logs, the final model, metrics JSON and curves.
        init_checkpoint: a `.keras` file or an official `.pth` to start from (ignored when resuming).
        eval_only: evaluate the last checkpoint (or `init_checkpoint`) and stop.
        steps_per_epoch, eval_steps: caps for quick runs (`None` = full passes).
        seed: data order, augmentation and initialisation depend only on it.
        jit_compile: XLA-compile the train step.
        tensorboard: write TensorBoard logs to `model_dir/logs`.
        verbose: Keras progress output (1 = bars, 2 = one line per epoch).
    """

    model: str = config_field("hire_mlp_tiny", help="Registry name (keras_hire.models.list_models()).")
    model_kwargs: dict = config_field(default_factory=dict,
                                      help='Constructor overrides, e.g. {"depths": [1, 1, 2, 1]}.')
    dataset: str = config_field("mnist_5k", help="mnist_5k (embedded), folder (with --data_dir) or tfds:<name>.")
    data_dir: Optional[str] = config_field(None, help="Image-folder root (<root>/<split>/<class>/*.jpg) or TFDS "
                                           "data_dir.")
    train_split: str = config_field("train", help="Training split.")
    eval_split: Optional[str] = config_field(None, help="Held-out split (default: test/validation/val, whichever "
                                             "exists).")
    image_size: Optional[int] = config_field(None, help="Input height = width (default: the dataset's native size, "
                                             "else the model's).", min=1)
    channels: Optional[int] = config_field(None, help="Input channels (default: the dataset's; grey is repeated to 3 "
                                           "if 3).", choices=(1, 3))
    eval_crop_fraction: Optional[float] = config_field(None, help="Center-crop fraction of the evaluation resize "
                                                       "(default: the model's ModelInfo, e.g. 0.875).",
                                                       greater_than=0.0, max=1.0)
    epochs: int = config_field(10, help="Epochs.", min=1)
    batch_size: int = config_field(64, help="Global batch size, split across replicas.", min=1)
    learning_rate: Optional[float] = config_field(None, help="Peak learning rate (default 5e-4 * batch_size / 512).",
                                                  greater_than=0.0)
    min_learning_rate: float = config_field(1e-5, help="Learning rate at the end of the cosine decay.", min=0.0)
    warmup_epochs: float = config_field(1.0, help="Linear warmup length in epochs.", min=0.0)
    warmup_learning_rate: float = config_field(1e-6, help="Learning rate at step 0.", min=0.0)
    weight_decay: float = config_field(0.05, help="AdamW weight decay (not applied to biases and norms).", min=0.0)
    label_smoothing: float = config_field(0.1, help="Label smoothing of the cross-entropy.", min=0.0, less_than=1.0)
    augment: AugmentConfig = config_field(default_factory=AugmentConfig, help="Training-time augmentation.")
    drop_path_rate: float = config_field(0.0, help="Stochastic depth rate.", min=0.0, less_than=1.0)
    mixed_precision: str = config_field("none", help="Mixed precision policy: mixed_float16 (GPU), mixed_bfloat16 "
                                        "(TPU/CPU).", choices=MIXED_PRECISION)
    strategy: str = config_field("auto", help="tf.distribute strategy.", choices=STRATEGIES)
    tpu: str = config_field("", help="TPU name or address for --strategy=tpu (default: $TPU_NAME).")
    model_dir: str = config_field("runs/default", help="Checkpoints, TensorBoard logs, model.keras, metrics.")
    init_checkpoint: Optional[str] = config_field(None, help="A .keras file or an official .pth to start from.")
    eval_only: bool = config_field(False, help="Evaluate the last checkpoint (or --init_checkpoint) and exit.")
    steps_per_epoch: Optional[int] = config_field(None, help="Cap on steps per epoch (default: a full pass).", min=1)
    eval_steps: Optional[int] = config_field(None, help="Cap on evaluation batches (default: a full pass).", min=1)
    seed: int = config_field(0, help="Seed of data order, augmentation and initialisation.", min=0)
    jit_compile: bool = config_field(True, help="XLA-compile the train step.")
    tensorboard: bool = config_field(True, help="Write TensorBoard logs to <model_dir>/logs.")
    verbose: int = config_field(1, help="Keras progress: 0 = silent, 1 = progress bars, 2 = one line per epoch.",
                                choices=(0, 1, 2))

    def check(self):
        if not self.model:
            self.fail("model", "empty", "name a registered model, e.g. hire_mlp_tiny (keras_hire.models.list_models())")
        if self.dataset == "folder" and not self.data_dir:
            self.fail("data_dir", "dataset='folder' needs the image-folder root",
                      "set --data_dir=<root> holding <root>/<split>/<class>/*.jpg")
        if self.learning_rate is not None and self.min_learning_rate > self.learning_rate:
            self.fail("min_learning_rate", f"above the peak learning rate {self.peak_learning_rate():g}",
                      "lower --min_learning_rate or raise --learning_rate")

    def peak_learning_rate(self):
        return self.learning_rate if self.learning_rate is not None else 5e-4 * self.batch_size / 512

