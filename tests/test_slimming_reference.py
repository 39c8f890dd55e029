"""An independent numpy forward pass of a ViT/CaiT with patch slimming's static token sets.

Block `l` is computed in full (square attention) on the tokens block `l-1` kept, in sorted
original order, and then the rows `keep[l]` are selected: the definition of a slimmed block,
written with numpy and the float64 textbook formulas, sharing nothing with the Keras graph but
the weights (and the token embedding, which slimming does not touch).
"""

import keras
import numpy as np
from scipy.special import erf


def layer_norm(layer, x):
    gamma, beta = (np.asarray(w, np.float64) for w in layer.get_weights())
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + layer.epsilon) * gamma + beta


def dense(layer, x):
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float64)
    y = x @ kernel
    if getattr(layer, "bias", None) is not None:
        y = y + np.asarray(keras.ops.convert_to_numpy(layer.bias), np.float64)
    return y


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def heads(x, num_heads):
    batch, length, width = x.shape
    return x.reshape(batch, length, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def attention(layer, queries, tokens):
    """timm's Attention / TalkingHeadAttn: `queries` attend over `tokens` (both LayerNorm-ed)."""
    h = layer.num_heads
    q = heads(dense(layer.q, queries), h) * layer.scale
    k, v = heads(dense(layer.k, tokens), h), heads(dense(layer.v, tokens), h)
    logits = q @ k.transpose(0, 1, 3, 2)
    if getattr(layer, "talking_heads", False):
        logits = dense(layer.proj_l, logits.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    weights = softmax(logits)
    if getattr(layer, "talking_heads", False):
        weights = dense(layer.proj_w, weights.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    y = (weights @ v).transpose(0, 2, 1, 3)
    return dense(layer.proj, y.reshape(y.shape[0], y.shape[1], -1))


def mlp(model, name, x):
    return dense(model.get_layer(f"{name}.fc2"), gelu(dense(model.get_layer(f"{name}.fc1"), x)))


def vit_block(model, i, x):
    """Block `i` of a VisionTransformer on every row of `x` (Aug-ViT shortcuts included)."""
    get = model.get_layer
    mode = model.augmented_shortcuts
    scale = 0.75 if mode in ("linear2", "circulant2") else 1.0

    def shortcuts(names, y):
        if mode is None:
            return 0.0
        if mode in ("linear", "circulant"):
            return dense(get(names[0]), y)
        return sum(gelu(dense(get(f"{n}.0"), y)) for n in names)

    y = layer_norm(get(f"blocks.{i}.norm1"), x)
    x = (x + attention(get(f"blocks.{i}.attn"), y, y) + shortcuts((f"blocks.{i}.augs_attn", f"blocks.{i}.augs_attn2"),
                                                                  y)) * scale
    y = layer_norm(get(f"blocks.{i}.norm2"), x)
    return (x + mlp(model, f"blocks.{i}.mlp", y) + shortcuts((f"blocks.{i}.augs", f"blocks.{i}.augs2"), y)) * scale


def cait_block(model, i, x):
    get = model.get_layer

    def gamma(name):
        return np.asarray(get(name).get_weights()[0], np.float64)

    y = layer_norm(get(f"blocks.{i}.norm1"), x)
    x = x + gamma(f"blocks.{i}.gamma_1") * attention(get(f"blocks.{i}.attn"), y, y)
    y = layer_norm(get(f"blocks.{i}.norm2"), x)
    return x + gamma(f"blocks.{i}.gamma_2") * mlp(model, f"blocks.{i}.mlp", y)


def embedding(model, images):
    """The tokens entering block 0 (slimming does not change the embedding)."""
    tap = keras.Model(model.inputs[0], model.get_layer("pos_drop").output)
    return np.asarray(tap.predict(images, verbose=0), np.float64)


def slimmed_forward(model, images, keep):
    """The unslimmed `model`'s weights, run with token sets `keep`: (outputs, sorted tokens of each block)."""
    x = embedding(model, images)
    held = list(range(x.shape[1]))
    block = cait_block if model.__class__.__name__ == "CaiT" else vit_block
    tokens = []
    for i, kept in enumerate(keep):
        full = block(model, i, x)  # square attention over the tokens block i-1 kept
        rows = [held.index(t) for t in kept]
        x, held = full[:, rows], list(kept)
        tokens.append(x)
    if model.__class__.__name__ == "CaiT":
        x = class_attention_stage(model, x)
    x = layer_norm(model.get_layer("norm"), x)
    if not model.include_top:
        return x, tokens
    logits = dense(model.get_layer("head"), x[:, 0])
    if getattr(model, "distilled", False):
        logits = (logits + dense(model.get_layer("head_dist"), x[:, 1])) / 2
    return logits, tokens


def class_attention_stage(model, patches):
    get = model.get_layer
    cls = np.broadcast_to(np.asarray(get("cls_token").get_weights()[0], np.float64),
                          (patches.shape[0], 1, patches.shape[2]))
    for j in range(model.class_attention_depth):
        name = f"blocks_token_only.{j}"
        y = layer_norm(get(f"{name}.norm1"), np.concatenate([cls, patches], axis=1))
        cls = cls + get(f"{name}.gamma_1").get_weights()[0] * attention(get(f"{name}.attn"), y[:, :1], y)
        y = layer_norm(get(f"{name}.norm2"), cls)
        cls = cls + get(f"{name}.gamma_2").get_weights()[0] * mlp(model, f"{name}.mlp", y)
    return np.concatenate([cls, patches], axis=1)


def test_reference_with_every_token_kept_reproduces_the_keras_model():
    """The numpy reference itself is right: with nothing dropped it gives the unslimmed model's logits."""
    from keras_hire.models import VisionTransformer

    model = VisionTransformer(patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=5, input_shape=(32, 32, 3),
                              distilled=True, augmented_shortcuts="linear2")
    images = np.random.RandomState(0).normal(size=(2, 32, 32, 3)).astype("float32")
    expected = model.predict(images, verbose=0)
    logits, _ = slimmed_forward(model, images, [list(range(18))] * 2)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
