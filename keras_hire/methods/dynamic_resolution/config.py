"""`DRNetConfig`: a DRNet run (the flags of training/drnet.py), nesting the shared `TrainConfig`."""

import dataclasses
from typing import Optional, Tuple

from keras_hire.training.config import TrainConfig
from keras_hire.utils.config import Config, config_field


@dataclasses.dataclass
class DRNetConfig(Config):
    """Both DRNet training stages. Paper values where it gives them (resolutions, predictor, eta 0.2,
    predictor lr x0.1); the Gumbel temperature is not given (1.0 here, the official code's default).

    Attributes:
        train: data, optimizer, strategy, `model_dir`; `--model` is the ResNet (`resnet18`..`resnet101`,
            narrowed with `--model_kwargs`), `--epochs` the epochs of each stage unless
            `stage1_epochs`/`stage2_epochs` say otherwise. Images are fed at the largest resolution.
        resolutions: candidate resolutions, strictly descending (paper: 224,168,112).
        stage: `1`, `2` or `both`.
        stage1_model: the stage-1 classifier stage 2 starts from (default `<model_dir>/stage1/model.keras`);
            several stage-2 runs (targets, eta) can share one stage 1 this way.
        target_macs: alpha, the allowed average MACs per image (predictor included); unset: no FLOPs loss.
        eta: weight of the FLOPs loss (paper: 0.2).
        predictor_size, predictor_channels, predictor_stem_width: the predictor (paper: 128, 64..512, 64).
        predictor_lr_scale: the predictor's learning rate relative to the classifier's (paper: 0.1).
        temperature: the Gumbel-softmax temperature of the straight-through gradient.
        norm: `per_resolution` (resolution-aware BN) or `shared` (one BN set: the ablation).
        shortcut_norm: `per_resolution` (paper) or `first` (the MindSpore quirk: shortcut BN set 0).
    """

    train: TrainConfig = config_field(default_factory=lambda: TrainConfig(model="resnet50"),
                                      help="The training run of both stages.")
    resolutions: Tuple[int, ...] = config_field((224, 168, 112), help="Candidate resolutions, strictly descending.",
                                                min=1)
    stage: str = config_field("both", help="Which stage to run: 1 (classifier at every resolution), 2 (predictor "
                              "and classifier jointly, from stage 1's classifier) or both.", choices=("1", "2", "both"))
    stage1_model: Optional[str] = config_field(None, help="Stage 1's model.keras that stage 2 starts from (default "
                                               "<model_dir>/stage1/model.keras): sweep targets or eta off one stage 1.")
    stage1_epochs: Optional[int] = config_field(None, help="Stage-1 epochs (default --epochs; paper 70).", min=1)
    stage2_epochs: Optional[int] = config_field(None, help="Stage-2 epochs (default --epochs; paper 100).", min=1)
    target_macs: Optional[float] = config_field(None, help="Alpha: the allowed average MACs per image, predictor "
                                                "included (e.g. 2.5e9); unset: no FLOPs loss.", greater_than=0.0)
    eta: float = config_field(0.2, help="Weight of the FLOPs loss (paper: 0.2).", min=0.0)
    predictor_size: int = config_field(128, help="Side of the predictor's input copy (paper: 128).", min=32)
    predictor_channels: Tuple[int, ...] = config_field((64, 128, 256, 512), help="Predictor stage widths.", min=1)
    predictor_stem_width: int = config_field(64, help="Predictor stem width.", min=1)
    predictor_lr_scale: float = config_field(0.1, help="Predictor learning rate / classifier's (paper: 0.1).",
                                             greater_than=0.0)
    temperature: float = config_field(1.0, help="Gumbel-softmax temperature of the backward pass.", greater_than=0.0)
    norm: str = config_field("per_resolution", help="per_resolution (resolution-aware BN, the paper) or shared (one "
                             "BN set for all resolutions, the ablation).", choices=("per_resolution", "shared"))
    shortcut_norm: str = config_field("per_resolution", help="per_resolution (paper) or first (MindSpore: the "
                                      "downsample-shortcut BN always uses set 0).", choices=("per_resolution", "first"))

    def check(self):
        from keras_hire.models.dr_resnet import check_resolutions

        try:
            check_resolutions(self.resolutions, "DRNetConfig.resolutions")
        except ValueError as error:
            self.fail("resolutions", str(error), "pass e.g. --resolutions=224,168,112")
        if len(self.resolutions) < 2:
            self.fail("resolutions", "needs at least two resolutions to choose from",
                      "pass e.g. --resolutions=64,48,32")
        if not self.train.model.startswith("resnet"):
            self.train.fail("model", "DRNet's classifier is a ResNet",
                            "pass --model=resnet18|resnet34|resnet50|resnet101")
        if self.stage1_model and self.stage != "2":
            self.fail("stage1_model", f"names a stage-1 classifier to start stage 2 from, but --stage={self.stage} "
                      "trains stage 1 itself", "pass --stage=2 with --stage1_model, or leave --stage1_model unset")
        if len(self.predictor_channels) != 4:
            self.fail("predictor_channels", "needs 4 stage widths", "pass e.g. --predictor_channels=64,128,256,512")
