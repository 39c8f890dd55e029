"""Which layers of a model PTQ for ViT quantizes, and their float operands on the calibration images."""

import keras
import numpy as np

from keras_hire.layers.attention import MultiHeadSelfAttention, merge_heads, split_heads
from keras_hire.layers.circulant_dense import BlockCirculantDense
from keras_hire.layers.class_attention import ClassAttention
from keras_hire.layers.layer_norm import LayerNorm
from keras_hire.layers.layer_scale import LayerScale
from keras_hire.layers.vit_embeddings import ClassToken, PositionEmbedding

# Layers with weights that stay float by design: normalisation, per-channel scales (CaiT's LayerScale) and
# the additive token/position parameters; none is a matrix product.
FLOAT_TYPES = (LayerNorm, keras.layers.LayerNormalization, LayerScale, ClassToken, PositionEmbedding)


# CaiT's class attention is self-attention with one query, the class token (same q, k, v, proj and scale).
ATTENTION_TYPES = (MultiHeadSelfAttention, ClassAttention)
# Linear layers quantized as a Dense: Aug-ViT's block-circulant shortcuts are Dense over a kernel
# materialised from their circulant vectors (the int8 file stores that kernel, as the float file does).
DENSE_TYPES = (keras.layers.Dense, BlockCirculantDense)


def is_attention(layer):
    return type(layer) in ATTENTION_TYPES


def num_queries(layer):
    """The leading tokens an attention module's queries come from (None: all)."""
    return 1 if type(layer) is ClassAttention else layer.num_queries


def is_patch_conv(layer):
    """A non-overlapping strided conv (stride == kernel, valid padding): a linear layer on patches."""
    return (type(layer) is keras.layers.Conv2D and tuple(layer.strides) == tuple(layer.kernel_size)
            and layer.padding == "valid" and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1
            and layer.data_format == "channels_last")


# Left float unless asked otherwise: the classifier heads, which the paper does not quantize.
DEFAULT_FLOAT_LAYERS = ("head", "head_dist")


def find_targets(model, float_layers=None):
    """The top-level layers to quantize, in graph order; raises `ValueError` naming any it cannot handle.

    `float_layers=None` leaves those of `DEFAULT_FLOAT_LAYERS` that the model has float; a given list
    must name existing layers.
    """
    if float_layers is None:
        float_layers = [name for name in DEFAULT_FLOAT_LAYERS if name in {layer.name for layer in model.layers}]
    float_layers = set(float_layers)
    targets, unsupported, found_float = [], [], []
    for layer in model.layers:
        if layer.name in float_layers:
            found_float.append(layer.name)
            continue
        if is_attention(layer) or type(layer) in DENSE_TYPES or is_patch_conv(layer):
            targets.append(layer)
        elif layer.weights and not isinstance(layer, FLOAT_TYPES):
            unsupported.append(f"{layer.name} ({type(layer).__name__})")
    if unsupported:
        raise ValueError(
            f"quantize_vit cannot quantize these layers of '{model.name}': {', '.join(unsupported)}. It handles "
            f"Dense, BlockCirculantDense, patch-embedding Conv2D, MultiHeadSelfAttention (talking heads "
            f"included) and ClassAttention. Fix: pass float_layers=[...] with those names to leave them float."
        )
    if not targets:
        raise ValueError(f"'{model.name}' has nothing quantize_vit can quantize (no Dense, patch Conv2D or "
                         f"MultiHeadSelfAttention outside float_layers={sorted(float_layers)}).")
    missing = sorted(float_layers - set(found_float))
    if missing:
        raise ValueError(f"float_layers names layers that '{model.name}' does not have: {missing}.")
    return targets


def capture_inputs(model, targets, images, batch_size=32):
    """Each target's float input on the calibration images: dict name -> float32 numpy array."""
    tap = keras.Model(model.inputs[0], [layer.input for layer in targets])
    batches = []
    for start in range(0, len(images), batch_size):
        outputs = tap(images[start:start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        batches.append([keras.ops.convert_to_numpy(o) for o in outputs])
    return {layer.name: np.concatenate([b[i] for b in batches]).astype(np.float32)
            for i, layer in enumerate(targets)}


def dense_operands(layer):
    """`(kernel, bias or None)` of a Dense as float32 numpy."""
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float32)
    bias = None if layer.bias is None else keras.ops.convert_to_numpy(layer.bias).astype(np.float32)
    return kernel, bias


def patch_operands(layer, images):
    """A patch conv as a product: `(patches (N, tokens, p*p*C), kernel (p*p*C, out), bias)`."""
    ph, pw = layer.kernel_size
    n, h, w, c = images.shape
    gh, gw = h // ph, w // pw
    x = images[:, :gh * ph, :gw * pw].reshape(n, gh, ph, gw, pw, c).transpose(0, 1, 3, 2, 4, 5)
    kernel, bias = dense_operands(layer)
    return x.reshape(n, gh * gw, ph * pw * c), kernel.reshape(ph * pw * c, -1), bias


def attention_operands(layer, x):
    """The float operands of one attention module on its input tokens `x` (N, T, D), as its `call` computes them.

    Returns a dict with `x`, the scaled `q` `(N, H, Q, d)`, `k_t` `(N, H, d, T)`, `v`, the softmax
    `attention` `(N, H, Q, T)` (the input of the second product: after CaiT's talking-heads mix) and the
    projection input `proj_in` `(N, Q, D)`; Q is T, or the query count of a class attention (1) or of a
    slimmed block. The talking-heads mixes (`proj_l`, `proj_w`) stay float.
    """
    def linear(dense, tokens):
        kernel, bias = dense_operands(dense)
        return tokens @ kernel if bias is None else tokens @ kernel + bias

    def mix(dense, scores):
        return keras.ops.convert_to_numpy(MultiHeadSelfAttention._mix_heads(dense, scores)).astype(np.float32)

    heads, queries = layer.num_heads, num_queries(layer)
    talking = getattr(layer, "talking_heads", False)
    x_q = x if queries is None else x[:, :queries]
    q = keras.ops.convert_to_numpy(split_heads(linear(layer.q, x_q) * np.float32(layer.scale), heads))
    k_t = keras.ops.convert_to_numpy(split_heads(linear(layer.k, x), heads)).transpose(0, 1, 3, 2)
    v = keras.ops.convert_to_numpy(split_heads(linear(layer.v, x), heads))
    logits = q @ k_t
    if talking:
        logits = mix(layer.proj_l, logits)
    attention = np.exp(logits - logits.max(axis=-1, keepdims=True))
    attention = (attention / attention.sum(axis=-1, keepdims=True)).astype(np.float32)
    if talking:
        attention = mix(layer.proj_w, attention)
    proj_in = keras.ops.convert_to_numpy(merge_heads(attention @ v)).astype(np.float32)
    return dict(x=x, q=q.astype(np.float32), k_t=k_t.astype(np.float32), v=v.astype(np.float32),
                attention=attention, proj_in=proj_in)
