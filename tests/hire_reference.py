"""A NumPy transcription of the official Hire module's NCHW computation, for parity tests.

It follows the official formulation step by step (roll, circular bottom/right padding, 5-D
region rearrangement with the `c * p + i` channel order, crop, roll back), so it checks the
4-D NHWC rewrite and the weight permutations of keras_hire against the original layout.
"""

import numpy as np
from scipy.special import erf


def _conv1x1(x, weight, bias=None):
    y = np.einsum("oi,bihw->bohw", weight[:, :, 0, 0], x)
    return y if bias is None else y + bias[None, :, None, None]


def _batch_norm(x, params, prefix, eps=1e-5):
    scale = params[f"{prefix}.weight"] / np.sqrt(params[f"{prefix}.running_var"] + eps)
    shift = params[f"{prefix}.bias"] - params[f"{prefix}.running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def random_hire_params(dim, p, seed=0):
    """Official-layout parameters of one Hire module, with non-trivial BN statistics."""
    rng = np.random.RandomState(seed)
    hidden = dim // 2
    params = {}
    for branch in ("h", "w"):
        params[f"mlp_{branch}1.weight"] = rng.randn(hidden, dim * p, 1, 1) * 0.2
        params[f"mlp_{branch}1_norm.weight"] = 1 + 0.1 * rng.randn(hidden)
        params[f"mlp_{branch}1_norm.bias"] = 0.1 * rng.randn(hidden)
        params[f"mlp_{branch}1_norm.running_mean"] = 0.1 * rng.randn(hidden)
        params[f"mlp_{branch}1_norm.running_var"] = 1 + 0.1 * rng.rand(hidden)
        params[f"mlp_{branch}2.weight"] = rng.randn(dim * p, hidden, 1, 1) * 0.2
        params[f"mlp_{branch}2.bias"] = 0.1 * rng.randn(dim * p)
    params["mlp_c.weight"] = rng.randn(dim, dim, 1, 1) * 0.2
    params["mlp_c.bias"] = 0.1 * rng.randn(dim)
    params["reweight.fc1.weight"] = rng.randn(dim // 4, dim, 1, 1) * 0.3
    params["reweight.fc1.bias"] = 0.1 * rng.randn(dim // 4)
    params["reweight.fc2.weight"] = rng.randn(dim * 3, dim // 4, 1, 1) * 0.3
    params["reweight.fc2.bias"] = 0.1 * rng.randn(dim * 3)
    params["proj.weight"] = rng.randn(dim, dim, 1, 1) * 0.2
    params["proj.bias"] = 0.1 * rng.randn(dim)
    return {key: value.astype(np.float32) for key, value in params.items()}


def hire_module_nchw(x, params, p, step):
    """The official forward pass (default circular modes) on an NCHW float array."""
    b, c, height, width = x.shape
    pad_h, pad_w = (p - height % p) % p, (p - width % p) % p
    h = np.roll(x, step, axis=2)
    w = np.roll(x, step, axis=3)
    # Circular padding appends the first rows (columns) after the last; `take` with wrap also
    # covers pads larger than the size, where torch's F.pad would refuse.
    h = np.take(h, np.arange(height + pad_h), axis=2, mode="wrap")
    w = np.take(w, np.arange(width + pad_w), axis=3, mode="wrap")
    hp, wp = height + pad_h, width + pad_w
    h = h.reshape(b, c, hp // p, p, width).transpose(0, 1, 3, 2, 4).reshape(b, c * p, hp // p, width)
    w = w.reshape(b, c, height, wp // p, p).transpose(0, 1, 4, 2, 3).reshape(b, c * p, height, wp // p)
    h = _conv1x1(np.maximum(_batch_norm(_conv1x1(h, params["mlp_h1.weight"]), params, "mlp_h1_norm"), 0),
                 params["mlp_h2.weight"], params["mlp_h2.bias"])
    w = _conv1x1(np.maximum(_batch_norm(_conv1x1(w, params["mlp_w1.weight"]), params, "mlp_w1_norm"), 0),
                 params["mlp_w2.weight"], params["mlp_w2.bias"])
    h = h.reshape(b, c, p, hp // p, width).transpose(0, 1, 3, 2, 4).reshape(b, c, hp, width)[:, :, :height]
    w = w.reshape(b, c, p, height, wp // p).transpose(0, 1, 3, 4, 2).reshape(b, c, height, wp)[:, :, :, :width]
    h = np.roll(h, -step, axis=2)
    w = np.roll(w, -step, axis=3)
    cc = _conv1x1(x, params["mlp_c.weight"], params["mlp_c.bias"])
    a = (h + w + cc).mean(axis=(2, 3))
    a = _gelu(a @ params["reweight.fc1.weight"][:, :, 0, 0].T + params["reweight.fc1.bias"])
    a = a @ params["reweight.fc2.weight"][:, :, 0, 0].T + params["reweight.fc2.bias"]
    a = a.reshape(b, c, 3)
    a = np.exp(a - a.max(axis=2, keepdims=True))
    a = a / a.sum(axis=2, keepdims=True)
    out = h * a[:, :, 0, None, None] + w * a[:, :, 1, None, None] + cc * a[:, :, 2, None, None]
    return _conv1x1(out, params["proj.weight"], params["proj.bias"])
