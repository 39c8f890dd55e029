"""The configs (and so the flags) of tflite/benchmark.py and benchmarks/*.py."""

import dataclasses
from typing import Optional, Tuple

from keras_hire.utils.config import Config, config_field

# One entry per model: "<registry name>:<input size>". Add a family with one more entry.
DEFAULT_MODELS = ("hire_mlp_small:224", "cmt_tiny:160", "cmt_small:224", "deit_small:224", "aug_vit_small:224")
XNNPACK_MODES = {"both": (True, False), "on": (True,), "off": (False,)}


def _model_entries(config):
    from keras_hire.benchmark.entries import parse_model_entry

    for entry in config.models:
        try:
            parse_model_entry(entry)
        except ValueError as error:
            config.fail("models", str(error).rstrip("."), "give registry_name:input_size entries, e.g. cmt_tiny:160")


@dataclasses.dataclass
class TFLiteBenchmarkConfig(Config):
    """tflite/benchmark.py: LiteRT latency, size and XNNPACK coverage of .tflite files."""

    models: Optional[Tuple[str, ...]] = config_field(None, help="Comma-separated .tflite files.", required=True)
    num_threads: Tuple[int, ...] = config_field((1, 2), help="Thread counts.", min=1)
    xnnpack: str = config_field("both", help="Run with XNNPACK, without it, or both.", choices=tuple(XNNPACK_MODES))
    warmup: int = config_field(5, help="Untimed invokes before timing.", min=0)
    runs: int = config_field(30, help="Timed invokes.", min=1)
    gpu_check: bool = config_field(False, help="Also list the ops the LiteRT GPU delegate rejects (needs Mesa 25 "
                                   "lavapipe).")
    output_json: Optional[str] = config_field(None, help="JSON report path (default: beside the first model).")
    output_md: Optional[str] = config_field(None, help="Markdown table path (default: beside the first model).")

    def check(self):
        import os

        missing = [path for path in self.models if not os.path.isfile(path)]
        if missing:
            self.fail("models", f"no such .tflite file: {', '.join(missing)}", "pass existing .tflite files")


@dataclasses.dataclass
class SpeedConfig(Config):
    """benchmarks/speed.py: every runtime of each model, against the GEMM rate, in one run."""

    models: Tuple[str, ...] = config_field(DEFAULT_MODELS, help="registry_name:input_size entries.")
    sweeps: int = config_field(5, help="Alternating measurement sweeps.", min=1)
    runs: int = config_field(15, help="Timed invokes per runtime per sweep.", min=1)
    calibration: int = config_field(16, help="Random calibration images for the int8 file (speed only).", min=1)
    output_json: str = config_field("benchmarks/results.json", help="Where to write all figures.")
    peers: str = config_field("benchmarks/peers/files/manifest.json",
                              help="Manifest of peer TFLite files (made by benchmarks/peers/); those of a measured "
                              "model and size are timed in the same sweeps. Skipped, with a note, when the file "
                              "does not exist.")

    def check(self):
        _model_entries(self)


@dataclasses.dataclass
class GpuCheckConfig(Config):
    """benchmarks/gpu_check_models.py: the GPU-delegate check of each model's float32 file."""

    models: Tuple[str, ...] = config_field(DEFAULT_MODELS, help="registry_name:input_size entries.")

    def check(self):
        _model_entries(self)


@dataclasses.dataclass
class StageConfig(Config):
    """One pyramid model at one size, timed on the interpreter (the stage benchmarks' shared part)."""

    model: str = config_field("hire_mlp_small", help="Registry name of a model with pyramid_outputs.")
    size: int = config_field(224, help="Input size.", min=1)
    threads: int = config_field(2, help="Interpreter (and BLAS) threads.", min=1)
    runs: int = config_field(20, help="Timed invokes per case.", min=1)


@dataclasses.dataclass
class StageProfileConfig(StageConfig):
    """benchmarks/stage_profile.py: per-stage latency, MACs and fraction of the GEMM rate."""

    sweeps: int = config_field(3, help="Alternating sweeps.", min=1)


@dataclasses.dataclass
class GemmCeilingConfig(StageConfig):
    """benchmarks/gemm_ceiling.py: XNNPACK's float32 GEMM fraction on the model's stage shapes."""

    expansion: float = config_field(4.0, help="Hidden width of the channel MLPs, as a multiple of C.",
                                    greater_than=0.0)
