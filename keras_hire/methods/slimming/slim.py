"""`slim(model, keep)`: the same ViT-family model, with static per-block token sets (2106.02852)."""

from keras_hire.models.cait import CaiT
from keras_hire.models.vit import VisionTransformer

SLIMMABLE = (VisionTransformer, CaiT)


def check_slimmable(model, caller):
    """Raises a clear error unless `model` is a ViT-family model (`VisionTransformer`, `CaiT`)."""
    if not isinstance(model, SLIMMABLE):
        raise ValueError(
            f"{caller}: model '{getattr(model, 'name', model)}' is a {type(model).__name__}, not a ViT-family "
            f"model; patch slimming needs a VisionTransformer (ViT, DeiT, distilled DeiT, Aug-ViT) or a CaiT. "
            f"Fix: build the model with keras_hire.models (e.g. create_model('deit_tiny')) or load its .keras file."
        )


def token_count(model):
    """Tokens entering the first block: prefix tokens + patches (CaiT's patch blocks: patches only)."""
    check_slimmable(model, "token_count")
    height, width = model.inputs[0].shape[1:3]
    return model.num_prefix_tokens + (height // model.patch_size) * (width // model.patch_size)


def required_tokens(model):
    """Token indices every block must keep: the class token (and the distillation token); none for CaiT."""
    return list(range(model.num_prefix_tokens))


def full_keep(model):
    """The `keep` of an unslimmed model: every token in every block."""
    return [list(range(token_count(model)))] * model.depth


def slim(model, keep):
    """A new model of `model`'s family and weights whose block `l` computes only the tokens `keep[l]`.

    The result is the same family (its config holds `keep`, so it saves, loads and exports like
    any other), with the weights copied by layer name; `keep` never changes a weight's shape, so
    an already slimmed model can be slimmed again (indices are always the original ones).

    Args:
        model: a `VisionTransformer` (ViT, DeiT, distilled DeiT, Aug-ViT) or `CaiT`.
        keep: one sorted list of original token indices per block (`len(keep) == model.depth`),
            nested (`keep[l]` a subset of `keep[l-1]`). ViT/DeiT: index 0 is the class token,
            1 the distillation token of distilled DeiT, then the patches row-major; both prefix
            tokens must be in every set (the heads read them). CaiT: patch indices of its patch
            blocks (no class token there); the class attention reads what the last block kept.
            Block `l` computes its queries, MLP and residual on `keep[l]`; its keys and values
            come from `keep[l-1]` (every token for block 0).

    Returns:
        The slimmed `keras.Model`; with every token kept its outputs equal `model`'s.

    Example:
    ```python
    model = keras_hire.models.create_model("deit_tiny")
    keep = [list(range(197))] * 6 + [list(range(99))] * 3 + [[0]] * 3
    slimmed = keras_hire.methods.slimming.slim(model, keep)
    ```
    """
    check_slimmable(model, "slim")
    config = {**model.get_config(), "keep": keep}
    slimmed = type(model).from_config(config)
    copy_weights(model, slimmed)
    return slimmed


def copy_weights(source, target):
    """Copies every weighted layer's weights from `source` into the same-named layer of `target`."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
