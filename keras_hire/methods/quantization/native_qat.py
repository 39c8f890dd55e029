"""Native Keras 3 QAT for any keras_hire model: prepare, initialise the ranges, strip, export to int8 TFLite.

TFMOT cannot take keras_hire's own layers (ViT/DeiT/CaiT/Aug-ViT, Hire-MLP, CMT); here every Dense,
Conv2D and DepthwiseConv2D of a clone of the model, top-level or inside those layers, is turned into its
QAT class (`qat_layers`); the rest stays float. The clone trains like any Keras model (the shared
trainer: resume, strategies, mixed precision) and exports through the same converter path as the PTQ
int8 file: TensorFlow fake-quant ops carry the trained ranges, no representative dataset.
"""

import keras
import numpy as np

from keras_hire.methods.quantization.qat_layers import (
    EMA_DECAY,
    QAT_CLASSES,
    QatBatchNormalization,
    QatDense,
    QatProduct,
)
from keras_hire.methods.quantization.targets import ATTENTION_TYPES

QAT_INITS = ("minmax", "ptq")


def prepare_native_qat(model, calibration_images, init="minmax", ema_decay=EMA_DECAY, ptq_intervals=None,
                       batch_size=32):
    """A QAT clone of `model` with every Dense/Conv2D/DepthwiseConv2D fake-quantized and its ranges set.

    Args:
        model: a built float `keras.Model` (left unchanged).
        calibration_images: float32 `(n, h, w, c)` images, preprocessed as in training; the ranges start
            at their min and max (`minmax`), over the float model's activations.
        init: `"minmax"`, or `"ptq"`: the input ranges of the products the PTQ-for-ViT search quantized
            (and the q, k, v output ranges, from the attention products' intervals) start from its
            intervals; the others from the calibration. Needs `ptq_intervals`.
        ema_decay: the moving-average decay of the activation ranges during training.
        ptq_intervals: `QuantizationResult.intervals` of `quantize_vit(model, ...)` with `bits=8`.
        batch_size: calibration batch size.

    Returns:
        The QAT `keras.Model` (same inputs, outputs and layer names).

    Example:
    ```python
    qat = prepare_native_qat(model, images[:256])
    qat.compile(optimizer="adam", loss=loss); qat.fit(dataset, epochs=2)
    flatbuffer = export_native_qat(qat)
    ```
    """
    if init not in QAT_INITS:
        raise ValueError(f"prepare_native_qat: init must be one of {QAT_INITS}; received {init!r}.")
    if init == "ptq" and not ptq_intervals:
        raise ValueError("prepare_native_qat: init='ptq' needs ptq_intervals (the intervals of quantize_vit(model, "
                         "calibration_images, bits=8)). Fix: pass them, or use init='minmax'.")
    images = np.asarray(calibration_images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"prepare_native_qat: calibration_images must be a non-empty (n, h, w, c) array; "
                         f"received shape {images.shape}.")
    qat = keras.models.clone_model(model)
    qat.set_weights(model.get_weights())
    products = [layer for layer in qat._flatten_layers(include_self=False) if type(layer) in QAT_CLASSES]
    if not products:
        raise ValueError(f"{model.name}: no Dense, Conv2D or DepthwiseConv2D layer to quantize; native QAT "
                         "has nothing to train. Fix: quantize a model with matrix products.")
    for layer in qat._flatten_layers(include_self=False):
        if getattr(layer, "fold_at_inference", False):
            layer.fold_at_inference = False  # a layer's own inference fold would bypass its QAT products
    for layer in products:
        layer.__class__ = QAT_CLASSES[type(layer)]
        layer.enable_qat(ema_decay)
    observers = products + _fold_batch_norms(qat, products, ema_decay)
    _calibrate(qat, observers, images, batch_size)
    if init == "ptq":
        _ranges_from_ptq(qat, ptq_intervals)
    return qat


def qat_products(model):
    """The QAT layers of a prepared model, in layer order."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, QatProduct)]


def qat_ranges(model):
    """`{layer path: {"input": [low, high] or None, "output": [low, high] or None}}` of a prepared model.

    None: not quantized there (a convolution's output when its BatchNorm is folded into it; a folded
    BatchNorm has an output range only).
    """
    found = {}
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, QatProduct):
            found[layer.path] = {"input": _pair(layer.input_range),
                                 "output": _pair(layer.output_range) if layer.quantize_output else None}
        elif isinstance(layer, QatBatchNormalization) and layer.output_range is not None:
            found[layer.path] = {"input": None, "output": _pair(layer.output_range)}
    return found


def _ranges_of(layer):
    return [v for v in (getattr(layer, "input_range", None), getattr(layer, "output_range", None)) if v is not None]


def strip_native_qat(qat, float_model):
    """Copies the QAT model's trained weights (not its ranges) into `float_model`, of the same architecture.

    The stripped model is the float model QAT trained: it saves as `model.keras` and exports like any
    other; the int8 file comes from `export_native_qat(qat)`.
    """
    trained = list(qat._flatten_layers(include_self=False))
    targets = list(float_model._flatten_layers(include_self=False))
    if len(trained) != len(targets):
        raise ValueError(f"strip_native_qat: {float_model.name} is not the architecture of {qat.name} "
                         f"({len(targets)} layers against {len(trained)}). Fix: pass the model QAT started from.")
    for source, target in zip(trained, targets):
        ranges = {id(v) for v in _ranges_of(source)}
        own = [v for v in source._trainable_variables + source._non_trainable_variables if id(v) not in ranges]
        for variable, value in zip(target._trainable_variables + target._non_trainable_variables, own):
            variable.assign(value)
    return float_model


def export_native_qat(qat):
    """The int8 TFLite flatbuffer (batch 1, float32 input and output) of a prepared QAT model.

    Every product becomes an int8 kernel with its trained ranges; ops XNNPACK would not take as int8 are
    run in float (`with_float_islands`), so the file is delegated op for op.
    """
    from keras_hire.methods.quantization.int8_export import convert_fake_quant_model, with_float_islands

    if not qat_products(qat):
        raise ValueError(f"export_native_qat: {qat.name} has no QAT layer. Fix: pass prepare_native_qat's model.")
    return with_float_islands(convert_fake_quant_model(qat))


def _fold_batch_norms(qat, products, ema_decay):
    """Pairs each BatchNormalization fed straight by a QAT Conv2D/DepthwiseConv2D with it (TFMOT's fold).

    One traced call finds the pairs at any depth: a BatchNormalization whose input is what a convolution
    returned. The convolution's output stays float, the BatchNorm's is quantized, so the
    converter folds the BatchNorm into the int8 kernel. Returns the paired BatchNormalizations.
    """
    norms = [layer for layer in qat._flatten_layers(include_self=False)
             if type(layer) is keras.layers.BatchNormalization]
    if not norms:
        return []
    produced, consumed = [], []
    for layer in norms:
        layer.__class__ = QatBatchNormalization
        layer.on_input = consumed.append  # a bound method: Keras would wrap a list
    for layer in products:
        layer.on_output = produced.append
        layer.calibrating = True  # a float pass: the ranges are not set yet
    shape = (1,) + tuple(qat.inputs[0].shape[1:])
    try:
        qat(np.random.RandomState(0).uniform(-1.0, 1.0, shape).astype(np.float32), training=False)
    finally:
        for layer in products:
            layer.on_output = None
            layer.calibrating = False
            for variable in _ranges_of(layer):
                variable.assign(np.zeros(2, np.float32))  # what the random image widened them to goes
        for layer in norms:
            layer.on_input = None
    # Keras' __call__ may hand the next layer a new tensor object, so a pair is matched by its values
    # (a fixed random image: distinct convolutions give distinct outputs); an ambiguous one stays unpaired.
    producers = {}
    for tensor, layer in produced:
        if not isinstance(layer, QatDense):
            producers.setdefault(_fingerprint(tensor), set()).add(layer)
    paired = {}
    for tensor, norm in consumed:
        found = producers.get(_fingerprint(tensor), ())
        if len(found) == 1:
            paired[id(norm)] = (norm, next(iter(found)))
    for layer in norms:
        if id(layer) not in paired:
            layer.__class__ = keras.layers.BatchNormalization
    for norm, conv in paired.values():
        conv.quantize_output = False
        norm.enable_qat(ema_decay)
    return [norm for norm, _ in paired.values()]


def _fingerprint(tensor):
    values = keras.ops.convert_to_numpy(tensor)
    return values.shape, hash(values.tobytes())


def _calibrate(qat, observers, images, batch_size):
    for layer in observers:
        layer.calibrating = True
    try:
        for start in range(0, len(images), batch_size):
            qat(images[start:start + batch_size], training=False)
    finally:
        for layer in observers:
            layer.calibrating = False
    for layer in observers:  # a range that saw only zeros still needs a width
        for variable in _ranges_of(layer):
            low, high = _pair(variable)
            if high - low < 1e-6:
                variable.assign([low - 1e-6, high + 1e-6])


def _ranges_from_ptq(qat, intervals):
    """Input ranges (and q/k/v output ranges) from the searched symmetric 8-bit intervals."""
    def symmetric(delta, divide=1.0):
        return [-128.0 * delta / divide, 127.0 * delta / divide]

    for layer in qat._flatten_layers(include_self=False):
        if isinstance(layer, QatProduct) and layer.name in intervals and intervals[layer.name].input:
            layer.input_range.assign(symmetric(intervals[layer.name].input))
        if not isinstance(layer, ATTENTION_TYPES):  # self- and class attention
            continue
        for op in ("q", "k", "v", "proj"):
            found = intervals.get(f"{layer.name}.{op}")
            if found is not None and found.input:
                getattr(layer, op).input_range.assign(symmetric(found.input))
        qk, av = intervals.get(f"{layer.name}.matmul_qk"), intervals.get(f"{layer.name}.matmul_av")
        if qk is not None:  # the searched q interval is of q * scale, the q layer's output times the scale
            layer.q.output_range.assign(symmetric(qk.input, float(layer.scale)))
            layer.k.output_range.assign(symmetric(qk.weight))
        if av is not None:
            layer.v.output_range.assign(symmetric(av.weight))


def _pair(variable):
    low, high = keras.ops.convert_to_numpy(variable)
    return [float(low), float(high)]
