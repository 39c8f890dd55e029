"""`CompressConfig`: a QAT / pruning / clustering run (the flags of training/qat.py), nesting the `TrainConfig`."""

import dataclasses
from typing import Optional

from keras_hire.methods.quantization.native_qat import QAT_INITS
from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field

PATHS = ("auto", "tfmot", "native")


@dataclasses.dataclass
class CompressConfig(Config):
    """A compression run: the model's `TrainConfig` (its `epochs` are each stage's) and what to apply.

    Attributes:
        train: the run; `train.init_checkpoint` is the float model to start from (a training/train.py
            run's `model.keras`); without it the model is trained from scratch through every stage.
        qat: quantization-aware training to an int8 TFLite file.
        prune_sparsity: magnitude pruning to this fraction of zero kernel weights, in [0, 1) (TFMOT path).
        clusters: weight clustering to this many centroids per kernel, >= 2 (TFMOT path).
        qat_init: where the native QAT's ranges start: `minmax` (calibration images) or `ptq` (the
            PTQ-for-ViT search's intervals, run first on the calibration images; ViT family; native path).
        path: `tfmot` (the tf_keras bridge; standard Keras layers only), `native` (Keras 3 fake-quant
            for every family, QAT only: `compress_natively`) or `auto` (tfmot when the model allows it,
            else native).
        num_calibration: training images used for the `minmax`/`ptq` initial ranges and the file check.
    """

    train: TrainConfig = config_field(default_factory=lambda: TrainConfig(model="digits_cnn"),
                                      help="The run being compressed.")
    qat: bool = config_field(False, help="Quantization-aware training to an int8 TFLite file.")
    prune_sparsity: Optional[float] = config_field(None, help="Prune kernels to this zero fraction, in [0, 1) "
                                                   "(TFMOT polynomial decay).", min=0.0, less_than=1.0)
    clusters: Optional[int] = config_field(None, help="Cluster every kernel to this many centroids (>= 2).", min=2)
    qat_init: str = config_field("minmax", help="Initial QAT ranges of the native path: minmax (calibration) or "
                                 "ptq (PTQ-for-ViT intervals).", choices=QAT_INITS)
    path: str = config_field("auto", help="tfmot (tf_keras bridge), native (Keras 3 fake-quant, any family) "
                             "or auto (tfmot where the model allows it).", choices=PATHS)
    num_calibration: int = config_field(256, help="Training images for the initial ranges and the TFLite check.",
                                        min=1)

    def check(self):
        if not (self.qat or self.prune_sparsity or self.clusters):
            self.fail("qat", "nothing to do: no QAT, pruning or clustering asked for",
                      "pass --qat, --prune_sparsity=0.5 or --clusters=16")
        if self.path == "native" and (self.prune_sparsity or self.clusters):
            self.fail("path", "pruning and clustering come from TFMOT, which the native path does not use",
                      "use --path=tfmot (standard-layer models) or drop --prune_sparsity/--clusters")
        if self.path == "tfmot" and self.qat_init == "ptq":
            self.fail("qat_init", "ptq initialisation is for the native path (TFMOT starts its own ranges)",
                      "use --path=native or --qat_init=minmax")
