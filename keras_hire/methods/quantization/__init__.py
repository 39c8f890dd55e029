"""PTQ for ViT (arXiv 2106.14156): the paper's formulas and `quantize_vit`.

Public: `uniform_quantize` (Eq. 8), `pearson_similarity` (Eq. 10), `ranking_loss` (Eq. 13), and
`quantize_vit` (methods "ptq_vit", "minmax", "percentile", "easyquant"; optional mixed precision), which
returns a `QuantizationResult` (fake-quantized model, `intervals`, report); `export_int8` turns an 8-bit
result into an int8 TFLite file whose scales are the searched intervals (`match_int8_scales` checks it).
"""

from keras_hire.methods.quantization.fake_model import build_fake_quant_model
from keras_hire.methods.quantization.fake_quant_layers import FakeQuantAttention, FakeQuantConv2D, FakeQuantDense
from keras_hire.methods.quantization.fake_quant_ops import fake_quant, fake_quant_range, tflite_fake_quant_ops
from keras_hire.methods.quantization.functions import pearson_similarity, ranking_loss, uniform_quantize
from keras_hire.methods.quantization.int8_export import Int8Export, export_int8, output_ranges
from keras_hire.methods.quantization.int8_scales import match_int8_scales, read_int8_products
from keras_hire.methods.quantization.mixed_precision import bit_set, nuclear_norm, pareto_choice
from keras_hire.methods.quantization.ptq_vit import METHODS, LayerIntervals, QuantizationResult, quantize_vit
from keras_hire.methods.quantization.search import SearchOutcome, search_intervals

__all__ = [
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
    "export_int8",
    "fake_quant",
    "fake_quant_range",
    "match_int8_scales",
    "nuclear_norm",
    "output_ranges",
    "pareto_choice",
    "pearson_similarity",
    "quantize_vit",
    "ranking_loss",
    "read_int8_products",
    "search_intervals",
    "tflite_fake_quant_ops",
    "uniform_quantize",
]
