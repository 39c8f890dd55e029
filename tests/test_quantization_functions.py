"""The public formulas of PTQ for ViT against loop-based textbook computations."""

import itertools
import math

import keras
import numpy as np
import pytest

from keras_hire.methods.quantization import functions, pearson_similarity, ranking_loss, uniform_quantize


def textbook_quantize(x, delta, bits):
    """Element by element: Python's round() is round-half-to-even, like np.round."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    x, delta = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(delta, np.float64))
    out = np.empty(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = min(max(round(x[index] / delta[index]), low), high) * delta[index]
    return out


def textbook_pearson(o, o_hat):
    a, b = [float(v) for v in np.ravel(o)], [float(v) for v in np.ravel(o_hat)]
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    num = sum((u - mean_a) * (v - mean_b) for u, v in zip(a, b))
    den = math.sqrt(sum((u - mean_a) ** 2 for u in a)) * math.sqrt(sum((v - mean_b) ** 2 for v in b))
    return num / den


def textbook_ranking(attn, attn_hat, theta):
    attn, attn_hat = np.asarray(attn, np.float64), np.asarray(attn_hat, np.float64)
    total = 0.0
    for lead in np.ndindex(attn.shape[:-1]):
        a, h = attn[lead], attn_hat[lead]
        for i, j in itertools.combinations(range(a.shape[0]), 2):
            sign = int(a[i] > a[j]) - int(a[i] < a[j])
            total += max(0.0, theta - (h[i] - h[j]) * sign)
    return total


@pytest.mark.parametrize("bits", [2, 3, 8, 16])
def test_uniform_quantize_matches_textbook(bits):
    x = np.random.default_rng(bits).normal(scale=3.0, size=(4, 7))
    delta = 0.37 if bits < 16 else 1e-3
    np.testing.assert_array_equal(uniform_quantize(x, delta, bits), textbook_quantize(x, delta, bits))


def test_uniform_quantize_clips_and_rounds_half_to_even():
    x = np.array([-10.0, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 10.0])
    # 2 bits: codes -2..1; halves go to the even code, as np.round: -2.5 -> -2, -1.5 -> -2, -0.5 -> -0, 0.5 -> 0.
    np.testing.assert_array_equal(uniform_quantize(x, 1.0, 2), [-2.0, -2.0, -2.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(uniform_quantize(x, 1.0, 8), [-10.0, -2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 10.0])
    np.testing.assert_array_equal(uniform_quantize(x, 0.5, 16), x)  # every value is a multiple of 0.5
    assert uniform_quantize([1000.0], 1.0, 16)[0] == 1000.0
    assert uniform_quantize([1e6], 1.0, 16)[0] == 2 ** 15 - 1
    assert uniform_quantize([-1e6], 1.0, 16)[0] == -(2 ** 15)


def test_uniform_quantize_dtypes_tensors_and_per_channel_delta():
    rng = np.random.default_rng(0)
    x32 = rng.normal(size=(5, 3)).astype(np.float32)
    out = uniform_quantize(x32, 0.1, 8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.clip(np.round(x32 / 0.1), -128, 127) * 0.1)
    np.testing.assert_array_equal(uniform_quantize(keras.ops.convert_to_tensor(x32), 0.1, 8), out)
    assert uniform_quantize(np.array([3, -7]), 2.0, 4).tolist() == [4.0, -8.0]  # ints: 1.5 -> 2, -3.5 -> -4
    delta = np.array([0.05, 0.2, 1.0])  # one interval per channel of the last axis
    x = rng.normal(size=(6, 3))
    np.testing.assert_array_equal(uniform_quantize(x, delta, 4), textbook_quantize(x, delta, 4))


@pytest.mark.parametrize("bits", [1, 17, 8.5, True, "8"])
def test_uniform_quantize_rejects_bits(bits):
    with pytest.raises(ValueError, match="bits"):
        uniform_quantize([1.0], 0.1, bits)


@pytest.mark.parametrize("delta", [0.0, -0.1, np.array([0.1, 0.0]), float("nan")])
def test_uniform_quantize_rejects_delta(delta):
    with pytest.raises(ValueError, match="delta > 0"):
        uniform_quantize([1.0, 2.0], delta, 8)


def test_pearson_similarity_matches_textbook():
    rng = np.random.default_rng(1)
    o = rng.normal(size=(3, 4, 5))
    o_hat = o + rng.normal(scale=0.5, size=o.shape)
    value = pearson_similarity(o, o_hat)
    assert isinstance(value, float)
    assert value == pytest.approx(textbook_pearson(o, o_hat), abs=1e-12)
    assert value == pytest.approx(np.corrcoef(o.ravel(), o_hat.ravel())[0, 1], abs=1e-12)
    assert pearson_similarity(o, 3.0 * o - 2.0) == pytest.approx(1.0, abs=1e-12)  # affine invariant
    assert pearson_similarity(o, -o) == pytest.approx(-1.0, abs=1e-12)
    assert pearson_similarity(keras.ops.convert_to_tensor(o.astype("float32")), o_hat) == pytest.approx(value, abs=1e-6)
    assert pearson_similarity([1.0, 2.0, 3.0], [2.0, 4.0, 6.5]) == pytest.approx(0.9979487, abs=1e-7)


def test_pearson_similarity_edge_cases():
    assert pearson_similarity(np.ones((2, 3)), np.arange(6.0).reshape(2, 3)) == 0.0  # constant: no correlation
    with pytest.raises(ValueError, match="one shape"):
        pearson_similarity(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        pearson_similarity(np.ones(0), np.ones(0))


@pytest.mark.parametrize("theta", [0.2, 0.0, 1.5])
def test_ranking_loss_matches_textbook_with_ties(theta):
    rng = np.random.default_rng(2)
    attn = np.round(rng.uniform(size=(2, 3, 6)) * 3) / 3  # few levels: many ties (sign 0)
    attn_hat = attn + rng.normal(scale=0.2, size=attn.shape)
    value = ranking_loss(attn, attn_hat, theta=theta)
    assert isinstance(value, float)
    assert value == pytest.approx(textbook_ranking(attn, attn_hat, theta), rel=1e-12, abs=1e-12)


def test_ranking_loss_hand_values():
    assert ranking_loss([[0.1, 0.5]], [[0.2, 0.3]]) == pytest.approx(0.1)  # 0.2 - (0.2 - 0.3) * -1
    assert ranking_loss([[0.5, 0.1]], [[0.9, 0.1]]) == 0.0  # kept order with margin 0.8 >= 0.2
    assert ranking_loss(np.zeros((2, 4)), np.zeros((2, 4)), theta=0.3) == pytest.approx(2 * 6 * 0.3)  # all ties
    assert ranking_loss(np.ones((3, 1)), np.ones((3, 1))) == 0.0  # no pairs
    assert ranking_loss([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], theta=0.0) == pytest.approx(1 + 2 + 1)
    with pytest.raises(ValueError, match="one shape"):
        ranking_loss(np.ones((2, 3)), np.ones((3, 2)))


def test_ranking_loss_chunks_long_rows(monkeypatch):
    rng = np.random.default_rng(3)
    attn = rng.normal(size=(2, 2, 5, 197))  # DeiT's 197 tokens
    attn_hat = attn + rng.normal(scale=0.3, size=attn.shape)
    whole = ranking_loss(attn, attn_hat)
    monkeypatch.setattr(functions, "_PAIR_BUDGET", 3 * 197 * 197)  # 3 rows per chunk: 7 chunks for 20 rows
    assert ranking_loss(attn, attn_hat) == pytest.approx(whole, rel=1e-12)
    # Each pair's term is symmetric in (i, j): the i < j sum is half of all off-diagonal terms.
    diff = (attn_hat[..., :, None] - attn_hat[..., None, :]) * np.sign(attn[..., :, None] - attn[..., None, :])
    full = np.maximum(0.0, 0.2 - diff).sum() - 0.2 * attn.size
    assert whole == pytest.approx(full / 2, rel=1e-10)
    assert textbook_ranking(attn[0, 0, :1], attn_hat[0, 0, :1], 0.2) == pytest.approx(
        ranking_loss(attn[0, 0, :1], attn_hat[0, 0, :1]), rel=1e-12)
