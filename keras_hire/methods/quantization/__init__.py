"""PTQ for ViT (arXiv 2106.14156): the paper's formulas and `quantize_vit`.

Public: `uniform_quantize` (Eq. 8), `pearson_similarity` (Eq. 10), `ranking_loss` (Eq. 13), and
`quantize_vit` (methods "ptq_vit", "minmax", "percentile", "easyquant"; optional mixed precision), which
returns a `QuantizationResult` (fake-quantized model, `intervals`, report).
"""

from keras_hire.methods.quantization.fake_model import build_fake_quant_model
from keras_hire.methods.quantization.fake_quant_layers import FakeQuantAttention, FakeQuantConv2D, FakeQuantDense
from keras_hire.methods.quantization.functions import pearson_similarity, ranking_loss, uniform_quantize
from keras_hire.methods.quantization.mixed_precision import bit_set, nuclear_norm, pareto_choice
from keras_hire.methods.quantization.ptq_vit import METHODS, LayerIntervals, QuantizationResult, quantize_vit
from keras_hire.methods.quantization.search import SearchOutcome, search_intervals

__all__ = [
    "FakeQuantAttention",
    "FakeQuantConv2D",
    "FakeQuantDense",
    "LayerIntervals",
    "METHODS",
    "QuantizationResult",
    "SearchOutcome",
    "bit_set",
    "build_fake_quant_model",
    "nuclear_norm",
    "pareto_choice",
    "pearson_similarity",
    "quantize_vit",
    "ranking_loss",
    "search_intervals",
    "uniform_quantize",
]
