"""The alternating interval search of PTQ for ViT, for one product `a @ b` (a linear layer or an attention matmul).

Given the float operands captured on the calibration images, the search fixes the interval of `a` and picks
the best interval of `b` on the grid `linspace(low, high, grid_size) x` its max-abs interval, then the
other way round, for at most `max_rounds` rounds (Sec. 3.3). The objective is the mean over images of the
Pearson similarity of the output (Eq. 11), minus `ranking_weight` x the ranking loss of the output when
it is an attention map (Eq. 12). After each round the linear layers' bias correction (Eq. 16) is
re-estimated, and the next round searches with it applied. The current interval is always a candidate,
so without correction the objective never falls from one step to the next; with it, the best pair of
intervals seen (max-abs included) is returned.
"""

import dataclasses

import numpy as np

from keras_hire.methods.quantization.functions import check_bits
from keras_hire.methods.quantization.parallel_blocks import BLOCK_ELEMENTS, for_blocks

# Elements of the candidate-output stack evaluated at once: bounds memory at ~256 MB of float64.
_CANDIDATE_BUDGET = 1 << 25


@dataclasses.dataclass
class SearchOutcome:
    """What `search_intervals` found for one product.

    Attributes:
        input_delta, weight_delta: the searched intervals of `a` and `b`.
        max_abs_input_delta, max_abs_weight_delta: the max-abs intervals the grid is built on.
        objective: the objective at the searched intervals, their bias correction applied.
        objective_max_abs: the objective at the starting (max-abs, or percentile) intervals, their bias
            correction applied.
        rounds: rounds run (the search stops early when a round changes neither interval; 0 without search).
        correction: `(out,)` bias correction added to the output, or None.
        bias_terms: the three expectations of Eq. 16 (`e_w_x`, `e_x_w`, `e_x_e_w`), `(out,)` each, or None.
        mean_error_before, mean_error_after: mean over output channels of |E[O_hat - O]| on the
            calibration data, without and with the correction.
        history: the objective after each round.
    """

    input_delta: float
    weight_delta: float
    max_abs_input_delta: float
    max_abs_weight_delta: float
    objective: float
    objective_max_abs: float
    rounds: int
    correction: np.ndarray = None
    bias_terms: dict = None
    mean_error_before: float = 0.0
    mean_error_after: float = 0.0
    history: list = dataclasses.field(default_factory=list)


def max_abs_delta(x, bits):
    """The interval that maps max|x| onto the largest code `2^(b-1) - 1` (1.0 for an all-zero tensor)."""
    peak = float(np.max(np.abs(x)))
    return peak / (2 ** (bits - 1) - 1) if peak > 0 else 1.0


def _quantize(x, delta, bits, out=None):
    """Eq. 8 in float32, like the fake-quantized Keras model (rint is half to even, as tf.round); in place
    into `out` when given, since the search quantizes one operand once per candidate."""
    delta = np.float32(delta)
    x = np.ascontiguousarray(x, np.float32)
    out = np.empty(x.shape, np.float32) if out is None else out
    if out.shape != x.shape or not out.flags.c_contiguous:  # the blocks write through a flat view of `out`
        raise ValueError(f"_quantize needs a C-contiguous out of shape {x.shape}; received {out.shape}.")
    source, target = x.reshape(-1), out.reshape(-1)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def block(start, stop):
        part = target[start:stop]
        np.divide(source[start:stop], delta, out=part)
        np.rint(part, out=part)
        np.maximum(part, low, out=part)
        np.minimum(part, high, out=part)
        part *= delta

    for_blocks(block, source.size)
    return out


METRICS = ("pearson", "cosine")


class _Similarity:
    """The mean over images of the Pearson (or cosine) similarity of candidate outputs to one reference.

    The reference's statistics are computed once. A candidate is scored through its difference to the
    reference: the sums that remain (its covariance with the reference, its own square) are small next to
    the reference's variance, so summing them in float32 moves the similarity by ~1e-10 against an
    all-float64 computation, at a third of its cost.
    """

    def __init__(self, reference, metric):
        n = reference.shape[0]
        self.reference = reference.reshape(n, -1).astype(np.float32)
        centred = self.reference.astype(np.float64)
        self.centre = metric == "pearson"
        if self.centre:
            centred = centred - centred.mean(axis=1, keepdims=True)
        self.variance = np.einsum("nm,nm->n", centred, centred)
        self.centred = centred.astype(np.float32)

    def __call__(self, outputs, offset=None):
        """`(C,)` scores of `outputs` `(C, N, ...)` (+ `offset`, broadcast over the last axis); `outputs` is
        overwritten with the differences to the reference."""
        n, m = self.reference.shape
        diff = outputs.reshape(len(outputs), n, m)
        target = self.reference
        if offset is not None:
            target = (target.reshape(outputs.shape[1:]) - offset).reshape(n, m)
        np.subtract(diff, target, out=diff)
        covariance = np.matmul(diff.transpose(1, 0, 2), self.centred[:, :, None])[..., 0].T.astype(np.float64)
        square = np.einsum("cnm,cnm->cn", diff, diff).astype(np.float64)
        if self.centre:
            square = square - diff.sum(axis=2).astype(np.float64) ** 2 / m
        numerator = self.variance + covariance
        denominator = np.sqrt(self.variance * np.maximum(self.variance + 2 * covariance + square, 0.0))
        safe = np.where(denominator > 0, denominator, 1.0)
        return np.where(denominator > 0, numerator / safe, 0.0).mean(axis=1)


def batched_similarity(o, o_hat, metric="pearson"):
    """Mean over images of the Pearson (or, for EasyQuant, cosine) similarity.

    `o` is `(N, ...)`, `o_hat` `(C, N, ...)` (C candidates); returns `(C,)`. Cosine is Pearson without
    centering.
    """
    return _Similarity(np.asarray(o), metric)(np.array(o_hat, np.float32))


def mean_ranking_loss(sign, o_hat_rows, theta):
    """Eq. 13 averaged over rows and pairs i < j, for each candidate: `sign` `(R, w, w)`, `o_hat_rows` `(C, R, w)`.

    The sum of Eq. 13 grows with the number of rows and pairs; averaging keeps gamma = 0.1 on the
    scale of the Pearson term (which is in [-1, 1]) whatever the number of tokens and images.
    """
    candidates, rows, width = o_hat_rows.shape
    # The hinge is symmetric in (i, j) and equals theta on the diagonal, so the sum over i < j is half the
    # full sum less the diagonal. It is built in place, a few rows at a time so that each block stays in cache.
    block = max(1, BLOCK_ELEMENTS // (width * width))

    def hinge_sum(start, stop):  # over a range of (candidate, row) pairs
        hinge = np.empty((block, width, width), np.float32)
        values = o_hat_rows.reshape(-1, width)[start:stop]
        part = hinge[:len(values)]
        np.subtract(values[:, :, None], values[:, None, :], out=part)
        index = np.arange(start, stop) % rows
        if index[0] + len(index) <= rows:
            part *= sign[index[0]:index[0] + len(index)]
        else:
            part *= sign[index]
        np.subtract(np.float32(theta), part, out=part)
        np.maximum(part, 0.0, out=part)
        return part.sum(axis=-1).sum(axis=-1, dtype=np.float64)  # pairwise float32 along each row

    per_row = np.concatenate(for_blocks(hinge_sum, candidates * rows, block)).reshape(candidates, rows)
    return (per_row.sum(axis=1) - rows * width * theta) / (rows * width * (width - 1))


def search_intervals(a, b, bits, bias=None, grid_size=100, max_rounds=20, low=0.5, high=1.2, ranking_weight=0.0,
                     theta=0.2, bias_correction=True, ranking_rows=None, seed=0, metric="pearson", search=True,
                     input_percentile=None, objective_tokens=None):
    """Searches the intervals of `a` and `b` for the product `o = a @ b (+ bias)`.

    Args:
        a: float32 `(N, ..., k)`, the input, one leading entry per calibration image.
        b: float32 `(k, out)` (a weight) or `(N, ..., k, out)` (the second operand of an attention matmul).
        bits: int in [2, 16].
        bias: `(out,)` or None.
        grid_size: int >= 2, candidates per search step.
        max_rounds: int >= 1, the most alternating rounds.
        low, high: the grid spans `[low, high] x` the max-abs interval.
        ranking_weight: gamma of Eq. 12 (0 for a plain linear layer).
        theta: the ranking loss margin.
        bias_correction: whether to estimate and apply Eq. 16's correction (linear layers only).
        ranking_rows: int or None, rows of the output used by the ranking term (sampled once, seeded);
            None uses all rows.
        seed: seed of that sample.
        metric: "pearson" (the paper) or "cosine" (EasyQuant).
        search: False keeps the starting intervals (the min-max and percentile baselines): 0 rounds.
        input_percentile: float in (0, 100] or None; the input's starting interval maps this percentile
            of |a| (instead of its max) onto the largest code (the percentile baseline).
        objective_tokens: int or None; the candidates are scored on this many output rows per image
            (a seeded sample of the second-to-last axis of `a`, the same for every candidate) instead
            of all: the search's cost falls in proportion. The max-abs grid and the bias correction
            still use every row. None (default) scores all rows, as the paper does.

    Returns:
        A `SearchOutcome`.

    Example:
    ```python
    outcome = search_intervals(x, kernel, bits=8, bias=bias, grid_size=50)
    outcome.input_delta, outcome.weight_delta
    ```
    """
    bits = check_bits(bits)
    if metric not in METRICS:
        raise ValueError(f"search_intervals metric must be one of {METRICS}; received {metric!r}.")
    if input_percentile is not None and not 0 < float(input_percentile) <= 100:
        raise ValueError(f"input_percentile must be in (0, 100]; received {input_percentile}.")
    if int(grid_size) < 2 or int(max_rounds) < 1 or not 0 < low < high:
        raise ValueError(f"search_intervals needs grid_size >= 2, max_rounds >= 1 and 0 < low < high; received "
                         f"grid_size={grid_size}, max_rounds={max_rounds}, low={low}, high={high}.")
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    bias = None if bias is None else np.asarray(bias, np.float32)
    factors = np.linspace(low, high, int(grid_size))
    base_a, base_b = max_abs_delta(a, bits), max_abs_delta(b, bits)
    if input_percentile is not None:
        peak = float(np.percentile(np.abs(a), float(input_percentile)))
        base_a = peak / (2 ** (bits - 1) - 1) if peak > 0 else base_a
    a_full = a
    if objective_tokens is not None and a.ndim >= 3 and a.shape[-2] > int(objective_tokens):
        scored = np.sort(np.random.default_rng(seed).choice(a.shape[-2], int(objective_tokens), replace=False))
        a = a[..., scored, :]  # the candidates' output rows; b (a weight, or per-image keys) is unchanged
    reference = np.matmul(a, b) if bias is None else np.matmul(a, b) + bias

    sign, rows = None, None
    if ranking_weight:
        flat = reference.reshape(-1, reference.shape[-1])
        rows = np.arange(flat.shape[0])
        if ranking_rows is not None and ranking_rows < flat.shape[0]:
            rows = np.sort(np.random.default_rng(seed).choice(flat.shape[0], int(ranking_rows), replace=False))
        sign = np.sign(flat[rows][:, :, None] - flat[rows][:, None, :])

    similarity = _Similarity(reference, metric)
    matrix = b.ndim == 2  # a weight: one 2-D GEMM over every image's rows (twice as fast as a batched one)

    def product(a_q, b_q, out):
        if matrix:
            np.matmul(a_q.reshape(-1, a_q.shape[-1]), b_q, out=out.reshape(-1, b_q.shape[-1]))
        else:
            np.matmul(a_q, b_q, out=out)

    def offset_of(correction):
        if bias is None:
            return correction
        return bias if correction is None else bias + correction

    def objective(products, offset):  # products: (C, N, ...), offset: (out,) or None; products are consumed
        value = 0.0
        if ranking_weight:
            flat = products.reshape(len(products), -1, products.shape[-1])[:, rows]
            value = -ranking_weight * mean_ranking_loss(sign, flat if offset is None else flat + offset, theta)
        return value + similarity(products, offset)

    def outputs(a_q, b_q):
        return np.matmul(a_q, b_q) if bias is None else np.matmul(a_q, b_q) + bias

    def best(deltas, fill, correction):
        """The best of `deltas` (the first is the current value, kept on ties) and its objective;
        `fill(delta, out)` writes a candidate's product into `out`."""
        per_candidate = max(1, _CANDIDATE_BUDGET // reference.size)
        chunk = np.empty((min(per_candidate, len(deltas)), *reference.shape), np.float32)
        offset = offset_of(correction)
        scores = []
        for start in range(0, len(deltas), per_candidate):
            part = deltas[start:start + per_candidate]
            for slot, delta in zip(chunk, part):
                fill(delta, slot)
            scores.append(objective(chunk[:len(part)], offset))
        scores = np.concatenate(scores)
        index = int(np.argmax(scores))
        return float(deltas[index]), float(scores[index])

    def corrected(delta_a, delta_b):
        """Eq. 16: E[O_hat] - E[O] = E[e_W x] + E[e_X W] + E[e_X e_W], estimated on the calibration data."""
        if not bias_correction or b.ndim != 2:
            return None, None
        e_x = (_quantize(a_full, delta_a, bits) - a_full).reshape(-1, a.shape[-1]).mean(axis=0, dtype=np.float64)
        e_w = (_quantize(b, delta_b, bits) - b).astype(np.float64)
        mean_x = a_full.reshape(-1, a.shape[-1]).mean(axis=0, dtype=np.float64)
        terms = {"e_w_x": mean_x @ e_w, "e_x_w": e_x @ b.astype(np.float64), "e_x_e_w": e_x @ e_w}
        return -(terms["e_w_x"] + terms["e_x_w"] + terms["e_x_e_w"]).astype(np.float32), terms

    def state_score(delta_a, delta_b, correction):
        return best([delta_a], lambda d, out: product(_quantize(a, d, bits), _quantize(b, delta_b, bits), out),
                    correction)[1]

    # A state is a pair of intervals with its own correction; the best state seen is returned, starting with
    # max-abs, so the result is never worse than max-abs even when a re-estimated correction lowers the score.
    a_buffer, b_buffer = np.empty(a.shape, np.float32), np.empty(b.shape, np.float32)  # per candidate
    delta_a, delta_b = base_a, base_b
    correction, terms = corrected(delta_a, delta_b)
    objective_max_abs = state_score(delta_a, delta_b, correction)
    best_state = (objective_max_abs, delta_a, delta_b, correction, terms)
    history, rounds = [], 0
    for rounds in range(1, int(max_rounds) + 1 if search else 1):
        previous = (delta_a, delta_b)
        a_q = _quantize(a, delta_a, bits)
        delta_b, _ = best([delta_b, *(factors * base_b)],
                          lambda d, out: product(a_q, _quantize(b, d, bits, b_buffer), out), correction)
        b_q = _quantize(b, delta_b, bits)
        delta_a, score = best([delta_a, *(factors * base_a)],
                              lambda d, out: product(_quantize(a, d, bits, a_buffer), b_q, out), correction)
        correction, terms = corrected(delta_a, delta_b)
        if correction is not None:
            score = state_score(delta_a, delta_b, correction)
        history.append(score)
        if score > best_state[0]:
            best_state = (score, delta_a, delta_b, correction, terms)
        if (delta_a, delta_b) == previous:
            break
    score, delta_a, delta_b, correction, terms = best_state

    uncorrected = outputs(_quantize(a, delta_a, bits), _quantize(b, delta_b, bits))
    channel_axes = tuple(range(uncorrected.ndim - 1))
    error = (uncorrected - reference).mean(axis=channel_axes, dtype=np.float64)  # on the scored rows
    return SearchOutcome(
        input_delta=delta_a, weight_delta=delta_b, max_abs_input_delta=base_a, max_abs_weight_delta=base_b,
        objective=score, objective_max_abs=objective_max_abs, rounds=rounds, correction=correction,
        bias_terms=terms, mean_error_before=float(np.abs(error).mean()),
        mean_error_after=float(np.abs(error + (0 if correction is None else correction)).mean()), history=history,
    )
