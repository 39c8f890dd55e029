"""`run_drnet(config)`: both DRNet training stages on the shared trainer (the whole of training/drnet.py).

Layout of `train.model_dir`: `drnet.json` (resolutions, costs, target: what a resumed run must
match), `stage1/` and `stage2/` (each a shared-trainer run: checkpoints, metrics, `model.keras`).
`stage1/model.keras` is the `DRResNet` classifier, `stage2/model.keras` the whole `DRNet`.
With `stage1_model`, stage 2 starts from another run's classifier (one stage 1, several targets).
Killing a run and starting it again with the same flags resumes the stage it was in.
"""

import json
import os

import keras

from keras_hire.methods.dynamic_resolution.config import DRNetConfig
from keras_hire.methods.dynamic_resolution.costs import check_target, resolution_costs
from keras_hire.methods.dynamic_resolution.drnet import DRNet, MultiResolutionClassifier
from keras_hire.methods.dynamic_resolution.predictor import resolution_predictor
from keras_hire.models.dr_resnet import DRResNet
from keras_hire.models.resnet import RESNET_CONFIGS
from keras_hire.utils.atomic import atomic_write_json

_RUN_FILE = "drnet.json"


def build_classifier(config: DRNetConfig, num_classes, in_channels):
    """The `DRResNet` of `config.train.model` (a ResNet name) and its `model_kwargs`."""
    architecture = {**RESNET_CONFIGS[config.train.model], **(config.train.model_kwargs or {})}
    unknown = sorted(set(architecture) - {"block", "depths", "channels", "stem_width"})
    if unknown:
        raise ValueError(f"DRNet: model_kwargs {unknown} do not apply to the DR classifier; it takes block, depths, "
                         "channels and stem_width.")
    return DRResNet(resolutions=config.resolutions, num_classes=num_classes, in_channels=in_channels,
                    norm=config.norm, shortcut_norm=config.shortcut_norm, **architecture)


def build_predictor(config: DRNetConfig, in_channels):
    return resolution_predictor(len(config.resolutions), config.predictor_size, config.predictor_channels,
                                config.predictor_stem_width, in_channels)


def load_classifier(path, resolutions):
    """Stage 1's `DRResNet` from `path`, checked to hold one BatchNorm set per resolution."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Stage 2 starts from stage 1's classifier {path}, which does not exist; run "
                                "--stage=1 (or --stage=both) first.")
    classifier = keras.models.load_model(path, compile=False)
    if not isinstance(classifier, DRResNet):
        raise ValueError(f"{path} holds a {type(classifier).__name__}, not a DRResNet (stage 1's model.keras).")
    if len(classifier.resolutions) != len(resolutions) or tuple(classifier.resolutions) != tuple(resolutions):
        raise ValueError(
            f"{path} has {len(classifier.resolutions)} BatchNorm sets for resolutions {classifier.resolutions}, but "
            f"this run has {len(resolutions)} resolutions {tuple(resolutions)}. Pass --resolutions="
            f"{','.join(map(str, classifier.resolutions))}, or train stage 1 again for the new resolutions.")
    return classifier


def run_drnet(config: DRNetConfig, strategy=None, progress=print):
    """Runs `config.stage` (1, 2 or both); returns `{"stage1": report, "stage2": report}` of the stages run.

    Every value is checked before training: the resolutions against the backbone, the target
    against the costs (`check_target`), and a `model_dir` of an earlier run against its resolutions.
    """
    from keras_hire.training import train
    from keras_hire.training.run_data import prepare_data

    base = config.train.replace(image_size=config.resolutions[0])
    out = base.model_dir
    run = prepare_data(base)
    num_classes, in_channels = run.train_source.num_classes, run.input_shape[-1]
    costs = resolution_costs(build_classifier(config, num_classes, in_channels), build_predictor(config, in_channels))
    if config.target_macs is not None:
        check_target(config.target_macs, costs)
    if config.stage1_model and not os.path.exists(config.stage1_model):
        raise FileNotFoundError(f"--stage1_model={config.stage1_model} does not exist. Fix: pass the model.keras "
                                "of a finished stage 1 (<its model_dir>/stage1/model.keras).")
    _check_earlier_run(out, config, costs)
    progress(f"drnet: resolutions {config.resolutions}, MACs per image (predictor included) {costs}")

    reports = {}
    stage1_dir, stage2_dir = os.path.join(out, "stage1"), os.path.join(out, "stage2")
    stage1_model = config.stage1_model or os.path.join(stage1_dir, "model.keras")
    if config.stage in ("1", "both"):
        stage1 = base.replace(model_dir=stage1_dir, epochs=config.stage1_epochs or base.epochs)
        reports["stage1"] = train(
            stage1, strategy, deployable=lambda model: model.classifier,
            build_model=lambda c, n, shape: MultiResolutionClassifier(build_classifier(config, n, shape[-1]),
                                                                      label_smoothing=c.label_smoothing))
    if config.stage in ("2", "both"):
        # init_checkpoint is stage 1's start; stage 2 starts from stage 1's classifier.
        stage2 = base.replace(model_dir=stage2_dir, epochs=config.stage2_epochs or base.epochs, init_checkpoint=None)

        def build_stage2(c, n, shape):
            classifier = load_classifier(stage1_model, config.resolutions)
            return DRNet(classifier, build_predictor(config, shape[-1]), costs, target=config.target_macs,
                         eta=config.eta, temperature=config.temperature, label_smoothing=c.label_smoothing,
                         predictor_lr_scale=config.predictor_lr_scale, seed=c.seed)

        reports["stage2"] = train(stage2.replace(jit_compile=False), strategy, build_model=build_stage2)
    return reports


def _check_earlier_run(out, config, costs):
    """Writes `drnet.json`, or fails when `out` holds a run for other resolutions (other BN sets)."""
    path = os.path.join(out, _RUN_FILE)
    record = {"resolutions": list(config.resolutions), "costs": costs, "target_macs": config.target_macs}
    if os.path.exists(path):
        with open(path) as handle:
            earlier = json.load(handle)
        if tuple(earlier["resolutions"]) != tuple(config.resolutions):
            raise ValueError(
                f"{out} holds a DRNet run with {len(earlier['resolutions'])} BatchNorm sets for resolutions "
                f"{tuple(earlier['resolutions'])}; this run has {tuple(config.resolutions)}. Use another --model_dir, "
                f"or pass --resolutions={','.join(map(str, earlier['resolutions']))} to resume it.")
    os.makedirs(out, exist_ok=True)
    atomic_write_json(path, record)
