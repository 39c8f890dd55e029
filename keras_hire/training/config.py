"""`TrainConfig`: every setting of a training run, as one dataclass (the flags of training/train.py)."""

import dataclasses
import json
from typing import Optional

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class TrainConfig:
    """A training run. Field names are the flags of `training/train.py`.

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
        label_smoothing, mixup, cutmix, randaugment_ops, random_erasing, random_resized_crop, flip:
            the augmentation recipe (`keras_hire.data.AugmentConfig`).
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

    model: str = "hire_mlp_tiny"
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    dataset: str = "mnist_5k"
    data_dir: Optional[str] = None
    train_split: str = "train"
    eval_split: Optional[str] = None
    image_size: Optional[int] = None
    channels: Optional[int] = None
    epochs: int = 10
    batch_size: int = 64
    learning_rate: Optional[float] = None
    min_learning_rate: float = 1e-5
    warmup_epochs: float = 1.0
    warmup_learning_rate: float = 1e-6
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    mixup: float = 0.0
    cutmix: float = 0.0
    randaugment_ops: int = 0
    random_erasing: float = 0.0
    random_resized_crop: bool = False
    flip: bool = False
    drop_path_rate: float = 0.0
    mixed_precision: str = "none"
    strategy: str = "auto"
    tpu: str = ""
    model_dir: str = "runs/default"
    init_checkpoint: Optional[str] = None
    eval_only: bool = False
    steps_per_epoch: Optional[int] = None
    eval_steps: Optional[int] = None
    seed: int = 0
    jit_compile: bool = True
    tensorboard: bool = True
    verbose: int = 1

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy={self.strategy!r} is not one of {', '.join(STRATEGIES)}.")
        if self.mixed_precision not in ("none", "mixed_float16", "mixed_bfloat16"):
            raise ValueError(
                f"mixed_precision={self.mixed_precision!r}; use 'none', 'mixed_float16' (GPU) or 'mixed_bfloat16' (TPU/CPU)."
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1; received {self.epochs} and {self.batch_size}.")

    def peak_learning_rate(self):
        return self.learning_rate if self.learning_rate is not None else 5e-4 * self.batch_size / 512

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)
