"""`QuantizeConfig`: the flags of tflite/quantize.py."""

import dataclasses
from typing import Optional

from keras_hire.methods.quantization.ptq_vit import METHODS
from keras_hire.utils.config import Config, config_field


@dataclasses.dataclass
class QuantizeConfig(Config):
    """Post-training quantization of a trained ViT to simulated and int8 TFLite files (`quantize_file`)."""

    model: Optional[str] = config_field(None, help="A .keras file, or a registry name (with --checkpoint).",
                                        required=True)
    checkpoint: Optional[str] = config_field(None, help="For a registry name: a .keras or official .pth checkpoint.")
    model_kwargs: dict = config_field(default_factory=dict, help="For a registry name: JSON constructor overrides.")
    dataset: str = config_field("mnist_5k", help="mnist_5k, folder or tfds:<name> (see training/train.py).")
    data_dir: Optional[str] = config_field(None, help="Image-folder root or TFDS data_dir.")
    train_split: str = config_field("train", help="Split the calibration images come from.")
    eval_split: Optional[str] = config_field(None, help="Held-out split (default: test/validation/val).")
    calibration_images: int = config_field(100, help="Calibration images (the paper: 100 CIFAR, 1000 ImageNet).",
                                           min=4)
    eval_images: int = config_field(1000, help="Held-out images for the accuracies.", min=1)
    bits: int = config_field(8, help="Bit width of weights and inputs (2-16; 8 exports an int8 file).", min=2,
                             max=16)
    mixed_precision: bool = config_field(False, help="Nuclear-norm mixed precision (bit sets {b-2..b+2}).")
    method: str = config_field("ptq_vit", help="The quantizer.", choices=METHODS)
    grid_size: int = config_field(100, help="Candidates per interval search step.", min=2)
    max_rounds: int = config_field(20, help="Alternating search rounds (the paper: at most 20).", min=1)
    objective_tokens: Optional[int] = config_field(None, help="Score candidates on this many sampled tokens per image "
                                                   "(default: all, as the paper; fewer is proportionally faster).",
                                                   min=1)
    compare: bool = config_field(True, help="Also export and score the converter's int8, dynamic-range and "
                                 "float32 files and ai-edge-quantizer's recipes (the quantization extra).")
    eval_crop_fraction: Optional[float] = config_field(None, help="Center-crop fraction of the evaluation resize "
                                                       "(default: the model's ModelInfo).", greater_than=0.0, max=1.0)
    output_dir: str = config_field("runs/quantize", help="Files, report_<run>.json, report.md and plots.")
    seed: int = config_field(0, help="Seed of the calibration draw and the held-out subset.", min=0)

    def check(self):
        if self.mixed_precision and self.method != "ptq_vit":
            self.fail("mixed_precision", "is only defined for --method=ptq_vit",
                      "drop --mixed_precision or use --method=ptq_vit")
        if self.checkpoint and self.model.endswith(".keras"):
            self.fail("checkpoint", "is only for a registry name; the .keras file already holds the weights",
                      "drop --checkpoint")

    @property
    def run_name(self):
        """`<method>_w<bits>[_mp]`: the name of this run's report and files."""
        return f"{self.method}_w{self.bits}" + ("_mp" if self.mixed_precision else "")
