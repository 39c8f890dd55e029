"""The paper's patch significance score (2106.02852, Sec. 3.2): how much a token at block t moves the output."""

import numpy as np

from keras_hire.methods.slimming.slim import check_slimmable, copy_weights, required_tokens, token_count


def unslimmed(model):
    """`model`'s family and weights with every token kept in every block (square attention maps)."""
    check_slimmable(model, "unslimmed")
    if model.keep is None:
        return model
    full = type(model).from_config({**model.get_config(), "keep": None})
    copy_weights(model, full)
    return full


def is_cait(model):
    return hasattr(model, "class_attention_depth")


def patch_significance(model, images, keep=None, batch_size=16):
    """The significance `s[t, i]` of token `i` at block `t`, averaged over `images`.

    The paper's score: `s_{t,i} = sum_h ||A_{h,t}[:, i]||^2 * ||U_{h,t}[i, :]||^2`, where
    `A_{h,t} = prod_{l=t+1..L} diag(m_l) P_{h,l}` chains head `h`'s attention maps of the later
    blocks (masked by the kept sets `m_l`) and `U_{h,t} = P_{h,t} |Z_{t-1}|` is block t's own
    attention-weighted absolute input. The chain starts at what the output reads: for ViT/DeiT
    the class (and distillation) token rows; for CaiT the class-attention maps over the patches
    (averaged over its class-attention blocks). The attention maps are those of the unslimmed
    model with `model`'s weights; the masks come from `keep`.

    Args:
        model: a ViT-family model (slimmed or not).
        images: float array `(n, height, width, channels)`, a sample of training images.
        keep: None (later blocks keep everything, ViT's last block only its prefix tokens), or
            per-block sorted original index lists whose later entries are the masks `m_l`.
        batch_size: images per forward pass.

    Returns:
        float64 array `(depth, tokens)` over original token indices.

    Example:
    ```python
    scores = patch_significance(model, train_images[:256])
    order = np.argsort(-scores[5])  # block 5's tokens, most significant first
    ```
    """
    check_slimmable(model, "patch_significance")
    full = unslimmed(model)
    depth, num_tokens = model.depth, token_count(model)
    masks = np.ones((depth, num_tokens))
    if keep is not None:
        if len(keep) != depth:
            raise ValueError(f"patch_significance: keep has {len(keep)} lists for {depth} blocks. Fix: one per block.")
        masks = np.zeros((depth, num_tokens))
        for block, indices in enumerate(keep):
            masks[block, list(indices)] = 1.0
    names = [f"attn_{i}" for i in range(depth)] + [f"block_{i}" for i in range(depth - 1)]
    if is_cait(model):
        names += [f"cls_attn_{j}" for j in range(model.class_attention_depth)]
    taps = full.intermediate_model(names)
    embedding = _embedding_model(full)
    total = np.zeros((depth, num_tokens))
    images = np.asarray(images, np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        out = {k: np.asarray(v, np.float64) for k, v in taps.predict(batch, verbose=0).items()}
        inputs = [np.asarray(embedding.predict(batch, verbose=0), np.float64)] + [out[f"block_{i}"]
                                                                                   for i in range(depth - 1)]
        total += _scores(model, out, inputs, masks).sum(axis=0)
    return total / len(images)


def _embedding_model(model):
    import keras

    return keras.Model(model.inputs[0], model.get_layer("pos_drop").output)


def _scores(model, out, inputs, masks):
    """Per-image scores `(batch, depth, tokens)` from one batch's attention maps and block inputs."""
    depth = model.depth
    attention = [out[f"attn_{i}"] for i in range(depth)]  # (batch, heads, N, N)
    batch, heads, num_tokens, _ = attention[0].shape
    if is_cait(model):  # the class token's attention over the last block's patches
        chain = np.mean([out[f"cls_attn_{j}"][:, :, :, 1:] for j in range(model.class_attention_depth)], axis=0)
    else:  # the output reads the prefix-token rows of the last block
        chain = np.zeros((batch, heads, len(required_tokens(model)), num_tokens))
        for row, token in enumerate(required_tokens(model)):
            chain[:, :, row, token] = 1.0
    scores = np.zeros((batch, depth, num_tokens))
    for t in range(depth - 1, -1, -1):
        # U_{h,t} = P_{h,t} |Z_{t-1}|: (batch, heads, N, dim)
        u = np.matmul(attention[t], np.abs(inputs[t])[:, None])
        column = np.sum(chain ** 2, axis=2)  # ||A_{h,t}[:, i]||^2, (batch, heads, N)
        scores[:, t] = np.sum(column * np.sum(u ** 2, axis=-1), axis=1)
        # A_{h,t-1} = A_{h,t} diag(m_t) P_{h,t}
        chain = np.matmul(chain * masks[t][None, None, None, :], attention[t])
    return scores
