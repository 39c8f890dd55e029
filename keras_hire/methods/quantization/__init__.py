"""PTQ for ViT (arXiv 2106.14156): the paper's formulas and `quantize_vit`.

Public: `uniform_quantize` (Eq. 8), `pearson_similarity` (Eq. 10), `ranking_loss` (Eq. 13), and
`quantize_vit` (methods "ptq_vit", "minmax", "percentile", "easyquant"; optional mixed precision), which
returns a `QuantizationResult` (fake-quantized model, `intervals`, report); `export_int8` turns an 8-bit
result into an int8 TFLite file whose scales are the searched intervals (`match_int8_scales` checks it).

QAT (issue 18): `compress(CompressConfig)` runs QAT, pruning or clustering of a registry model through
TFMOT (`compress_with_tfmot`, standard-layer models) or natively (`compress_natively`, any family, QAT
only; `prepare_native_qat`, `export_native_qat`, `strip_native_qat`, `qat_ranges` for your own loop).
"""

from keras_hire.methods.quantization.compress import choose_path, compress
from keras_hire.methods.quantization.fake_model import build_fake_quant_model
from keras_hire.methods.quantization.fake_quant_layers import FakeQuantAttention, FakeQuantConv2D, FakeQuantDense
from keras_hire.methods.quantization.fake_quant_ops import fake_quant, fake_quant_range, tflite_fake_quant_ops
from keras_hire.methods.quantization.functions import pearson_similarity, ranking_loss, uniform_quantize
from keras_hire.methods.quantization.int8_export import Int8Export, export_int8, output_ranges
from keras_hire.methods.quantization.int8_scales import match_int8_scales, read_int8_products
from keras_hire.methods.quantization.mixed_precision import bit_set, nuclear_norm, pareto_choice
from keras_hire.methods.quantization.native_qat import (
    export_native_qat,
    prepare_native_qat,
    qat_products,
    qat_ranges,
    strip_native_qat,
)
from keras_hire.methods.quantization.native_qat_training import compress_natively
from keras_hire.methods.quantization.ptq_vit import METHODS, LayerIntervals, QuantizationResult, quantize_vit
from keras_hire.methods.quantization.qat_config import CompressConfig
from keras_hire.methods.quantization.search import SearchOutcome, search_intervals
from keras_hire.methods.quantization.tfmot_training import compress_with_tfmot

__all__ = [
    "CompressConfig",
    "FakeQuantAttention",
    "FakeQuantConv2D",
    "FakeQuantDense",
    "Int8Export",
    "LayerIntervals",
    "METHODS",
    "QuantizationResult",
    "SearchOutcome",
    "bit_set",
    "build_fake_quant_model",
    "choose_path",
    "compress",
    "compress_natively",
    "compress_with_tfmot",
    "export_int8",
    "export_native_qat",
    "fake_quant",
    "fake_quant_range",
    "match_int8_scales",
    "nuclear_norm",
    "output_ranges",
    "pareto_choice",
    "pearson_similarity",
    "prepare_native_qat",
    "qat_products",
    "qat_ranges",
    "quantize_vit",
    "ranking_loss",
    "read_int8_products",
    "search_intervals",
    "strip_native_qat",
    "tflite_fake_quant_ops",
    "uniform_quantize",
]
