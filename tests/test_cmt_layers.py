"""CMT layers: the attention against a direct transcription of the official token-space maths, errors.

Configs, shapes, mixed precision and JAX: tests/test_layers.py."""

import keras
import numpy as np
import pytest

from keras_hire.layers import InvertedResidualFFN, LightweightAttention, RelativePositionBias


def _official_attention(x, weights, num_heads, k, bias):
    """The official `Attention.forward` on tokens, in float64 numpy (BatchNorm at its init: identity)."""
    batch, height, width, dim = x.shape
    tokens = x.reshape(batch, height * width, dim)
    head_dim = dim // num_heads

    def linear(t, name):
        return t @ weights[f"{name}_kernel"] + weights[f"{name}_bias"]

    def split(t):  # (B, N, C) -> (B, heads, N, head_dim), the official 4-D layout per tensor
        return t.reshape(batch, -1, num_heads, head_dim).transpose(0, 2, 1, 3)

    kv = tokens
    if k > 1:  # depthwise k x k stride k conv with bias; BatchNorm with fresh statistics is ~identity
        patches = x.reshape(batch, height // k, k, width // k, k, dim)
        kv = np.einsum("bhiwjc,ijc->bhwc", patches, weights["sr_kernel"][:, :, :, 0]) + weights["sr_bias"]
        kv = kv / np.sqrt(1.0 + 1e-5)
        kv = kv.reshape(batch, -1, dim)
    q, key, value = split(linear(tokens, "q")), split(linear(kv, "k")), split(linear(kv, "v"))
    logits = q @ key.transpose(0, 1, 3, 2) * head_dim**-0.5 + bias
    logits = np.exp(logits - logits.max(-1, keepdims=True))
    attention = logits / logits.sum(-1, keepdims=True)
    out = (attention @ value).transpose(0, 2, 1, 3).reshape(batch, height * width, dim)
    return linear(out, "proj").reshape(batch, height, width, dim)


@pytest.mark.parametrize("height,width,heads,k", [(8, 12, 2, 4), (6, 4, 3, 2), (5, 7, 1, 1)])
def test_attention_equals_the_official_computation(height, width, heads, k):
    dim = 12
    inputs = keras.Input((height, width, dim))
    bias_layer = RelativePositionBias(heads, k, name="relative_pos")
    attention = LightweightAttention(dim, heads, kv_reduction=k, name="attn")
    model = keras.Model(inputs, attention([inputs, bias_layer(inputs)]))
    rng = np.random.RandomState(height * 7 + k)
    for sublayer in ("q", "k", "v", "proj"):  # non-zero biases, so a mixed-up bias would show
        getattr(attention, sublayer).bias.assign(rng.randn(dim).astype(np.float32) * 0.1)
    if k > 1:
        attention.sr.bias.assign(rng.randn(dim).astype(np.float32) * 0.1)
    weights = {f"{name}_{kind}": getattr(getattr(attention, name), kind).numpy().astype(np.float64)
               for name in ("q", "k", "v", "proj") for kind in ("kernel", "bias")}
    if k > 1:
        weights["sr_kernel"] = attention.sr.kernel.numpy().astype(np.float64)
        weights["sr_bias"] = attention.sr.bias.numpy().astype(np.float64)

    x = rng.randn(2, height, width, dim).astype(np.float32)
    expected = _official_attention(x.astype(np.float64), weights, heads, k, bias_layer.bias.numpy())
    actual = model.predict(x, verbose=0)
    assert np.max(np.abs(actual - expected)) < 1e-4 * np.max(np.abs(expected))


def test_bad_arguments_raise_errors_echoing_the_value():
    with pytest.raises(ValueError, match="dim=10, num_heads=3"):
        LightweightAttention(10, 3)
    with pytest.raises(ValueError, match="kv_reduction=0"):
        LightweightAttention(12, 3, kv_reduction=0)
    with pytest.raises(ValueError, match="hidden_dim=0"):
        InvertedResidualFFN(12, 0)
    with pytest.raises(ValueError, match="num_heads=0"):
        RelativePositionBias(0)
    with pytest.raises(ValueError, match="multiples of 4"):
        RelativePositionBias(1, 4)(keras.Input((6, 8, 4)))
    attention = LightweightAttention(8, 2, kv_reduction=2)
    x = keras.Input((4, 4, 8))
    with pytest.raises(ValueError, match=r"bias of shape \(2, 16, 4\)"):
        attention([x, RelativePositionBias(2, 1)(x)])
