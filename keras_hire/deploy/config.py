"""`ExportConfig`: the flags of tflite/export.py."""

import dataclasses
from typing import Optional, Tuple

from keras_hire.export.tflite import QUANTIZATIONS
from keras_hire.utils.config import Config, config_field


@dataclasses.dataclass
class ExportConfig(Config):
    """Exporting a trained `.keras` model to verified TFLite files (`export_keras_file`)."""

    model: Optional[str] = config_field(None, help="The .keras model file.", required=True)
    output_dir: Optional[str] = config_field(None, help="Output folder (default: <model folder>/tflite).")
    quantizations: Tuple[str, ...] = config_field(QUANTIZATIONS, help=f"Any of {', '.join(QUANTIZATIONS)}.",
                                                  choices=QUANTIZATIONS)
    dataset: str = config_field("mnist_5k", help="Dataset for calibration and verification (see training/train.py).")
    data_dir: Optional[str] = config_field(None, help="Image-folder root or TFDS data_dir.")
    train_split: str = config_field("train", help="Split the int8 calibration images come from.")
    eval_split: Optional[str] = config_field(None, help="Held-out split for verification (default: "
                                             "test/validation/val).")
    num_calibration: int = config_field(200, help="Calibration images for int8.", min=1)
    num_eval: int = config_field(1000, help="Held-out images to verify each file on (0 = skip).", min=0)
    eval_crop_fraction: Optional[float] = config_field(None, help="Center-crop fraction of the evaluation resize "
                                                       "(default: the model's ModelInfo).", greater_than=0.0, max=1.0)
    seed: int = config_field(0, help="Seed of the calibration and verification subsets.", min=0)

    def check(self):
        if not self.quantizations:
            self.fail("quantizations", "empty", f"name at least one of {', '.join(QUANTIZATIONS)}")
