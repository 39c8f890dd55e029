"""`quantize_vit`: PTQ for ViT (arXiv 2106.14156) and its baselines on the ViT family, fake-quantized in Keras."""

import dataclasses
import time

import keras
import numpy as np

from keras_hire.layers.circulant_dense import BlockCirculantDense
from keras_hire.methods.quantization import mixed_precision as mp
from keras_hire.methods.quantization import targets as target_lib
from keras_hire.methods.quantization.fake_model import build_fake_quant_model, copy_weights, fake_quant_layer
from keras_hire.methods.quantization.functions import check_bits
from keras_hire.methods.quantization.search import search_intervals
from keras_hire.methods.quantization.search_state import SearchState, fingerprint
from keras_hire.methods.quantization.validation import MIN_CALIBRATION_IMAGES, check_calibration_images

# ptq_vit: the paper; minmax: max-abs intervals; percentile: inputs clipped at a percentile of |x|;
# easyquant: the alternating search with cosine similarity, no ranking term, no bias correction.
METHODS = ("ptq_vit", "minmax", "percentile", "easyquant")


@dataclasses.dataclass(frozen=True)
class LayerIntervals:
    """The searched quantization of one operation.

    Attributes:
        weight: the weight interval (for "matmul_qk" the interval of k, for "matmul_av" that of v).
        input: the input interval (for "matmul_qk" the scaled q, for "matmul_av" the attention probabilities).
        bits: the bit width of both.
    """

    weight: float
    input: float
    bits: int


@dataclasses.dataclass
class QuantizationResult:
    """What `quantize_vit` returns.

    Attributes:
        model: the fake-quantized `keras.Model` (simulates the bits; a different object from the float model).
        intervals: dict operation name -> `LayerIntervals`; names are the Keras layer names, and
            `"{attention layer}.{q|k|v|proj|matmul_qk|matmul_av}"` inside attention modules.
        report: dict, the settings, the model size and, under "layers", each operation's search numbers
            (and, with mixed precision, the per-module bits, nuclear norms and errors under "mixed_precision").
    """

    model: keras.Model
    intervals: dict
    report: dict


def _method_settings(method, ranking_weight, bias_correction, percentile):
    if method == "ptq_vit":
        return dict(metric="pearson", search=True, ranking_weight=float(ranking_weight),
                    bias_correction=bool(bias_correction))
    if method == "easyquant":
        return dict(metric="cosine", search=True, ranking_weight=0.0, bias_correction=False)
    return dict(metric="pearson", search=False, ranking_weight=0.0, bias_correction=False,
                input_percentile=float(percentile) if method == "percentile" else None)


def quantize_vit(model, calibration_images, bits=8, mixed_precision=False, method="ptq_vit", grid_size=100,
                 max_rounds=20, interval_range=(0.5, 1.2), ranking_weight=0.1, theta=0.2, bias_correction=True,
                 percentile=99.99, float_layers=None, ranking_rows=256, batch_size=32,
                 min_calibration_images=MIN_CALIBRATION_IMAGES, progress=None, state_path=None,
                 objective_tokens=None):
    """Post-training quantization of a vision transformer with similarity- and ranking-aware intervals.

    Every linear layer (q, k, v, the attention projection, both MLP layers, the patch embedding) gets a
    weight and an input interval, and both attention products (q k^T and softmax(.) v) intervals for
    their two operands; LayerNorm, softmax and GELU stay float, and so do `float_layers` (by default
    the classifier heads, which the paper does not quantize). Each operation is searched on the float
    model's own inputs ("parallel" calibration): alternately the weight and the input interval over
    `grid_size` points of `interval_range x` the max-abs interval, at most `max_rounds` rounds,
    maximising the mean Pearson similarity of the output over the images, minus `ranking_weight` x the
    (pair-averaged) ranking loss for the attention logits q k^T; after each round the linear layers'
    biases are corrected with all three terms of Eq. 16. `mixed_precision=True` gives each attention and
    MLP module its own bits from `mixed_precision.bit_set(bits)` (nuclear-norm sensitivity, Pareto choice
    of Eq. 18 at the uniform-`bits` weight size). The result simulates the bits (2-16) in float; TFLite
    runs only 8-bit integer kernels.

    Args:
        model: a `keras.Model` of the ViT family: ViT, DeiT (distilled too), CaiT (talking heads and class
            attention; the head mixes stay float), Aug-ViT (linear or block-circulant shortcuts), a slimmed
            ViT; or any functional model of such layers, Dense and patch convs.
        calibration_images: float `(N, H, W, C)`, normalised as for training, N >= `min_calibration_images`.
        bits: int in [2, 16], for weights and inputs alike (the average target with mixed precision).
        mixed_precision: bool, the nuclear-norm bit allocation (method "ptq_vit" only).
        method: "ptq_vit", or a baseline: "minmax", "percentile", "easyquant".
        grid_size: candidates per search step (the paper's C; not given in the text).
        max_rounds: the most alternating rounds (20 in the paper).
        interval_range: `(alpha, beta)` of the grid, `(0.5, 1.2)` in the paper.
        ranking_weight: gamma of Eq. 12 (0.1); 0 searches attention by similarity only.
        theta: the ranking loss margin (0.2).
        bias_correction: apply Eq. 16's bias correction (method "ptq_vit").
        percentile: the percentile of |input| that sets the input intervals of method "percentile".
        float_layers: names of top-level layers left float; None: the classifier heads ("head", "head_dist").
        ranking_rows: rows of the attention logits the ranking term uses (a seeded sample, 256 by default);
            None: all. All rows cost O(rows x tokens^2) per candidate: on the digits DeiT (100 images)
            one q k^T search took 160 s with all rows and 4 s with 256, and the 6-bit model scored 85.9%
            and 86.0%.
        batch_size: images per forward pass while capturing inputs.
        min_calibration_images: the fewest calibration images accepted.
        progress: optional callable receiving one line of text per searched operation.
        objective_tokens: None (all, the paper) or the number of tokens per image the candidates are
            scored on (a seeded sample; see `search_intervals`): the search's cost falls in proportion.
        state_path: optional JSON file: each layer's outcome is saved there (atomically) as soon as it is
            searched, and a search started again with the same model, images and settings restores the
            saved layers instead of searching them (an interrupted search resumes); other settings are refused.

    Returns:
        A `QuantizationResult`.

    Example:
    ```python
    model = keras_hire.models.create_model("deit_tiny", num_classes=10, input_shape=(32, 32, 3), patch_size=8)
    result = quantize_vit(model, images[:32], bits=8)
    result.intervals["blocks.0.mlp.fc1"]  # LayerIntervals(weight=..., input=..., bits=8)
    logits = result.model(images)
    ```
    """
    if method not in METHODS:
        raise ValueError(f"Unknown quantization method {method!r}; available: {', '.join(METHODS)}.")
    bits = check_bits(bits)
    if mixed_precision and method != "ptq_vit":
        raise ValueError(f"mixed_precision=True is part of method 'ptq_vit'; received method={method!r}.")
    if not isinstance(model, keras.Model):
        raise ValueError(f"quantize_vit needs a keras.Model; received {type(model).__name__}.")
    low, high = (float(v) for v in interval_range)
    images = check_calibration_images(model, calibration_images, int(min_calibration_images))
    started = time.perf_counter()
    layers = target_lib.find_targets(model, float_layers)
    quantized = {layer.name for layer in layers}
    float_layers = [layer.name for layer in model.layers if layer.weights and layer.name not in quantized]
    inputs = target_lib.capture_inputs(model, layers, images, batch_size)

    settings = dict(grid_size=int(grid_size), max_rounds=int(max_rounds), low=low, high=high, theta=float(theta),
                    ranking_rows=ranking_rows, objective_tokens=objective_tokens,
                    **_method_settings(method, ranking_weight, bias_correction, percentile))

    state = SearchState(state_path, fingerprint(model, images, dict(settings, bits=bits, mixed=bool(mixed_precision),
                                                                     float_layers=float_layers)))

    def search_all(width, only=None):
        found = {}
        for layer in layers:
            if only is not None and layer.name not in only:
                continue
            restored = state.restored(layer.name, width)
            outcomes = restored or list(_search_layer(layer, inputs[layer.name], width, settings))
            if restored is None:
                state.save(layer.name, width, outcomes)
            for name, outcome in outcomes:
                found[name] = outcome
                if progress is not None:
                    progress(f"{name} ({width} bits): objective {outcome.objective:.6f} "
                             f"(max-abs {outcome.objective_max_abs:.6f}), {outcome.rounds} round(s), "
                             f"{time.perf_counter() - started:.0f} s elapsed"
                             + (" [restored from the saved state]" if restored else ""))
        return found

    mixed = None
    if mixed_precision:
        outcomes, bits_of, mixed = _mixed_precision(model, layers, inputs, bits, search_all)
    else:
        outcomes = search_all(bits)
        bits_of = {name: bits for name in outcomes}
    intervals = {name: LayerIntervals(weight=o.weight_delta, input=o.input_delta, bits=bits_of[name])
                 for name, o in outcomes.items()}
    fake_model = build_fake_quant_model(model, intervals, outcomes)
    report = dict(
        method=method, bits=bits, mixed_precision=mixed, grid_size=int(grid_size), max_rounds=int(max_rounds),
        interval_range=[low, high], metric=settings["metric"], ranking_weight=settings["ranking_weight"],
        theta=float(theta), bias_correction=settings["bias_correction"], objective_tokens=objective_tokens,
        percentile=float(percentile) if method == "percentile" else None, calibration_images=int(len(images)),
        calibration="parallel", float_layers=float_layers, search_seconds=time.perf_counter() - started,
        model_size_mb=_model_size_mb(model, layers, intervals),
        simulated=sorted({i.bits for i in intervals.values()}) != [8],
        note="TFLite has 8-bit integer kernels only; other bit widths are simulated (fake quantization).",
        layers={name: _layer_report(o, bits_of[name]) for name, o in outcomes.items()},
    )
    return QuantizationResult(model=fake_model, intervals=intervals, report=report)


def _search_layer(layer, x, bits, settings):
    """Yields `(operation name, SearchOutcome)` for the operations of one top-level layer."""
    ranking = settings["ranking_weight"]  # only the attention logits q k^T are ranked
    linear = {**settings, "ranking_weight": 0.0}
    product = {**settings, "ranking_weight": 0.0, "bias_correction": False}
    if target_lib.is_attention(layer):
        ops = target_lib.attention_operands(layer, x)
        for op in ("q", "k", "v"):
            kernel, bias = target_lib.dense_operands(getattr(layer, op))
            yield f"{layer.name}.{op}", search_intervals(x, kernel, bits, bias=bias, **linear)
        yield f"{layer.name}.matmul_qk", search_intervals(ops["q"], ops["k_t"], bits,
                                                          **{**product, "ranking_weight": ranking})
        yield f"{layer.name}.matmul_av", search_intervals(ops["attention"], ops["v"], bits, **product)
        kernel, bias = target_lib.dense_operands(layer.proj)
        yield f"{layer.name}.proj", search_intervals(ops["proj_in"], kernel, bits, bias=bias, **linear)
    elif isinstance(layer, keras.layers.Conv2D):
        patches, kernel, bias = target_lib.patch_operands(layer, x)
        yield layer.name, search_intervals(patches, kernel, bits, bias=bias, **linear)
    else:
        kernel, bias = target_lib.dense_operands(layer)
        yield layer.name, search_intervals(x, kernel, bits, bias=bias, **linear)


def _layer_report(outcome, bits):
    return dict(
        bits=bits, weight_interval=outcome.weight_delta, input_interval=outcome.input_delta,
        max_abs_weight_interval=outcome.max_abs_weight_delta, max_abs_input_interval=outcome.max_abs_input_delta,
        objective=outcome.objective, objective_max_abs=outcome.objective_max_abs, rounds=outcome.rounds,
        mean_output_error_before_correction=outcome.mean_error_before,
        mean_output_error_after_correction=outcome.mean_error_after, history=list(outcome.history),
    )


def _kernel_sizes(layer):
    """Kernel parameters of a quantized layer (biases, corrections and talking-heads mixes stay float)."""
    if target_lib.is_attention(layer):
        return int(sum(np.prod(getattr(layer, op).kernel.shape) for op in ("q", "k", "v", "proj")))
    if isinstance(layer, BlockCirculantDense):  # its parameters are the circulant vectors
        return int(np.prod(layer.weight_list.shape))
    return int(np.prod(layer.kernel.shape))


def _model_size_mb(model, layers, intervals):
    """Weights at their bits (quantized kernels) or 32 bits (everything else), in MB (10^6 bytes)."""
    total_bits = 32 * sum(int(np.prod(w.shape)) for w in model.weights)
    for layer in layers:
        name = f"{layer.name}.q" if target_lib.is_attention(layer) else layer.name
        total_bits -= (32 - intervals[name].bits) * _kernel_sizes(layer)
    return total_bits / 8e6


def _modules(layers):
    """Mixed-precision modules: each attention layer, and each MLP (its `...fc1`/`...fc2` Dense pair)."""
    modules, by_name = {}, {layer.name: layer for layer in layers}
    for layer in layers:
        if target_lib.is_attention(layer):
            modules[layer.name] = [layer]
        elif layer.name.endswith(".fc1") and layer.name[:-1] + "2" in by_name:
            modules[layer.name[:-4]] = [layer, by_name[layer.name[:-1] + "2"]]
    return modules


def _module_output(model, members, inputs, intervals, outcomes):
    """The module's output on its captured input, fake-quantized with `intervals` (None: float)."""
    def run(layer, x):
        if intervals is None:
            return layer(x)
        twin = fake_quant_layer(layer, intervals)
        twin(x[:1])  # builds it
        copy_weights(twin, layer, outcomes)
        return twin(x)

    x = inputs[members[0].name]
    if target_lib.is_attention(members[0]):
        return keras.ops.convert_to_numpy(run(members[0], x)[0])
    fc1, fc2 = members
    act = model.get_layer(fc1.name[:-3] + "act")  # the MLP's own GELU
    return keras.ops.convert_to_numpy(run(fc2, act(run(fc1, x))))


def _mixed_precision(model, layers, inputs, target, search_all):
    """Searches every module at each candidate bit width and picks the configuration of least Omega (Eq. 18)."""
    modules = _modules(layers)
    if not modules:
        raise ValueError(f"mixed_precision=True found no attention or MLP module in '{model.name}'.")
    candidates = mp.bit_set(target)
    in_modules = {layer.name for members in modules.values() for layer in members}
    per_bits = {b: search_all(b, only=in_modules) for b in candidates}
    fixed = search_all(target, only={layer.name for layer in layers} - in_modules)

    sizes, errors, info = [], [], {}
    for name, members in modules.items():
        reference = _module_output(model, members, inputs, None, {})
        if target_lib.is_attention(members[0]):
            sigma = mp.nuclear_norm(target_lib.attention_operands(members[0], inputs[members[0].name])["attention"])
        else:
            sigma = mp.nuclear_norm(reference)
        params = sum(_kernel_sizes(layer) for layer in members)
        module_errors = {}
        for b in candidates:
            found = {k: LayerIntervals(o.weight_delta, o.input_delta, b) for k, o in per_bits[b].items()}
            output = _module_output(model, members, inputs, found, per_bits[b])
            module_errors[b] = float(np.mean(np.sum((output - reference).reshape(len(output), -1) ** 2, axis=1)))
        sizes.append({b: params * b for b in candidates})
        errors.append({b: sigma * e for b, e in module_errors.items()})
        info[name] = dict(nuclear_norm=sigma, parameters=params, errors=module_errors)
    budget = target * sum(info[name]["parameters"] for name in modules)
    choice, size, omega = mp.pareto_choice(sizes, errors, budget)

    outcomes, bits_of = dict(fixed), {name: target for name in fixed}
    for (name, members), b in zip(modules.items(), choice):
        info[name]["bits"] = b
        for op_name, outcome in per_bits[b].items():
            if op_name == name or op_name.startswith(f"{name}."):
                outcomes[op_name], bits_of[op_name] = outcome, b
    report = dict(target_bits=target, bit_set=list(candidates), budget_bits=int(budget), size_bits=int(size),
                  omega=float(omega), modules=info)
    return outcomes, bits_of, report
