"""The alternating interval search and the bias correction (Eq. 16) on synthetic products."""

import numpy as np
import pytest

from keras_hire.methods.quantization import pearson_similarity, search_intervals, uniform_quantize
from keras_hire.methods.quantization.search import max_abs_delta

# An overflow or NaN inside the candidate scoring means a candidate was scored on garbage.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def heavy_tailed_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(df=3, size=(6, 20, 16)).astype(np.float32)  # outliers make max-abs too coarse
    w = rng.normal(scale=0.1, size=(16, 12)).astype(np.float32)
    b = rng.normal(scale=0.1, size=(12,)).astype(np.float32)
    return x, w, b


def mean_pearson(o, o_hat):
    return np.mean([pearson_similarity(o[n], o_hat[n]) for n in range(len(o))])


def test_search_beats_max_abs_and_stays_on_the_grid():
    x, w, b = heavy_tailed_problem()
    outcome = search_intervals(x, w, bits=4, bias=b, grid_size=15, bias_correction=False)
    assert outcome.max_abs_input_delta == pytest.approx(np.abs(x).max() / 7)
    assert outcome.max_abs_weight_delta == pytest.approx(np.abs(w).max() / 7)
    grid = np.linspace(0.5, 1.2, 15)
    for delta, base in ((outcome.input_delta, outcome.max_abs_input_delta),
                        (outcome.weight_delta, outcome.max_abs_weight_delta)):
        ratio = delta / base
        assert np.min(np.abs(np.append(grid, 1.0) - ratio)) < 1e-9, ratio
    assert outcome.input_delta < outcome.max_abs_input_delta  # the outliers are clipped
    assert outcome.objective > outcome.objective_max_abs + 1e-3
    assert 1 <= outcome.rounds <= 20 and len(outcome.history) == outcome.rounds
    assert np.all(np.diff(outcome.history) >= -1e-12)  # without correction the objective never falls
    # The reported objective is the textbook mean Pearson of the quantized layer.
    o = x @ w + b
    o_hat = uniform_quantize(x, outcome.input_delta, 4) @ uniform_quantize(w, outcome.weight_delta, 4) + b
    assert outcome.objective == pytest.approx(mean_pearson(o, o_hat), abs=1e-6)
    o_max = uniform_quantize(x, outcome.max_abs_input_delta, 4) @ uniform_quantize(w, outcome.max_abs_weight_delta, 4)
    assert outcome.objective_max_abs == pytest.approx(mean_pearson(o, o_max + b), abs=1e-6)


def test_max_rounds_and_grid_size_are_respected():
    x, w, b = heavy_tailed_problem(1)
    assert search_intervals(x, w, bits=3, bias=b, grid_size=5, max_rounds=1).rounds == 1
    with pytest.raises(ValueError, match="grid_size >= 2"):
        search_intervals(x, w, bits=8, grid_size=1)
    with pytest.raises(ValueError, match="bits"):
        search_intervals(x, w, bits=17)


def test_bias_correction_has_all_terms_of_eq_16():
    x, w, b = heavy_tailed_problem(2)
    outcome = search_intervals(x, w, bits=3, bias=b, grid_size=10)
    x_q = uniform_quantize(x, outcome.input_delta, 3).astype(np.float64)
    w_q = uniform_quantize(w, outcome.weight_delta, 3).astype(np.float64)
    e_x, e_w = x_q - x, w_q - w
    flat = lambda t: t.reshape(-1, t.shape[-1])  # noqa: E731
    expected = {"e_w_x": (flat(x) @ e_w).mean(0), "e_x_w": (flat(e_x) @ w).mean(0),
                "e_x_e_w": (flat(e_x) @ e_w).mean(0)}
    for name, value in expected.items():
        np.testing.assert_allclose(outcome.bias_terms[name], value, atol=1e-6)
    shift = (flat(x_q @ w_q) - flat(x.astype(np.float64) @ w)).mean(0)  # E[O_hat] - E[O]
    np.testing.assert_allclose(-outcome.correction, shift, atol=1e-5)
    assert outcome.mean_error_before > 1e-3
    assert outcome.mean_error_after < 1e-3 * outcome.mean_error_before


def test_ranking_term_lowers_the_objective_by_gamma_times_the_mean_loss():
    rng = np.random.default_rng(4)
    q = rng.normal(size=(3, 2, 9, 4)).astype(np.float32)
    k_t = rng.normal(size=(3, 2, 4, 9)).astype(np.float32)
    plain = search_intervals(q, k_t, bits=4, grid_size=8, max_rounds=1, bias_correction=False)
    ranked = search_intervals(q, k_t, bits=4, grid_size=8, max_rounds=1, bias_correction=False, ranking_weight=0.1)
    assert ranked.correction is None and plain.correction is None  # products have no bias
    logits = q @ k_t
    hat = uniform_quantize(q, ranked.input_delta, 4) @ uniform_quantize(k_t, ranked.weight_delta, 4)
    from tests.test_quantization_functions import textbook_ranking

    pairs = logits.size // 9 * (9 * 8 // 2)
    expected = mean_pearson(logits, hat) - 0.1 * textbook_ranking(logits, hat, 0.2) / pairs
    assert ranked.objective == pytest.approx(expected, abs=1e-6)
    assert max_abs_delta(np.zeros(3), 8) == 1.0


def test_scoring_a_token_sample_scores_those_rows_on_the_full_grid():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 40, 16)).astype("float32")
    a[0, 1, 0] = 9.0  # the max-abs grid must come from every row, this unscored one included
    kernel = rng.normal(size=(16, 8)).astype("float32")
    rows = np.sort(np.random.default_rng(5).choice(40, 10, replace=False))
    assert 1 not in rows
    outcome = search_intervals(a, kernel, bits=4, grid_size=12, max_rounds=3, objective_tokens=10, seed=5,
                               bias_correction=False)
    assert outcome.max_abs_input_delta == pytest.approx(max_abs_delta(a, 4))
    scored = a[:, rows]
    quantized = uniform_quantize(scored, outcome.input_delta, 4) @ uniform_quantize(kernel, outcome.weight_delta, 4)
    expected = np.mean([pearson_similarity(o, q) for o, q in zip(scored @ kernel, quantized)])
    assert outcome.objective == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("metric", ["pearson", "cosine"])
def test_candidate_scores_keep_float64_precision_where_candidates_differ_in_the_sixth_decimal(metric):
    from keras_hire.methods.quantization.search import batched_similarity

    rng = np.random.default_rng(6)
    o = (rng.normal(size=(5, 64, 96)) * 3 + 2).astype(np.float32)  # a large mean, as after a bias
    noise = rng.normal(size=(4, *o.shape))
    o_hat = (o + noise * np.array([1e-3, 2e-3, 3e-3, 5e-2])[:, None, None, None] + 0.01).astype(np.float32)
    ref = o.reshape(5, -1).astype(np.float64)
    cand = o_hat.reshape(4, 5, -1).astype(np.float64)
    if metric == "pearson":
        ref, cand = ref - ref.mean(1, keepdims=True), cand - cand.mean(2, keepdims=True)
    textbook = ((ref * cand).sum(-1) / np.sqrt((ref * ref).sum(-1) * (cand * cand).sum(-1))).mean(1)
    scores = batched_similarity(o, o_hat, metric)
    assert 1 - textbook[0] < 1e-5  # the regime of the search: scores within 1e-5 of 1
    np.testing.assert_allclose(scores, textbook, rtol=0, atol=1e-9)
    assert list(np.argsort(scores)) == list(np.argsort(textbook))
