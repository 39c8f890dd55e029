"""Aug-ViT (Tang et al., arXiv 2106.15941, NeurIPS 2021): DeiT with block-circulant augmented shortcuts.

The official `augvit_small_circulant2` / `augvit_base_circulant2` configurations
(huawei-noah/Efficient-AI-Backbones, augvit_pytorch/models/augvit.py): DeiT-S / DeiT-B with two
GELU-activated 4x4 block-circulant shortcuts beside attention and beside the MLP, on the
LayerNorm-ed input, each sub-layer's sum scaled by 3/4. They are `VisionTransformer`s with
`augmented_shortcuts="circulant2"`; other modes (`"linear"`, `"circulant"`, `"linear2"`) are
one argument away: `create_model("aug_vit_small", augmented_shortcuts="circulant")`.
"""

from keras_hire.models.registry import family_info, register_variant
from keras_hire.models.vit import VisionTransformer

AUG_VIT_CONFIGS = {
    "aug_vit_small": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6, augmented_shortcuts="circulant2"),
    "aug_vit_base": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12, augmented_shortcuts="circulant2"),
}

# The official train.py is DeiT's (crop 0.875, ImageNet statistics); no checkpoints are published.
_INFO = family_info("2106.15941", input_divisor=16)
AugViTSmall = register_variant(VisionTransformer, "aug_vit_small", "AugViTSmall", AUG_VIT_CONFIGS["aug_vit_small"],
                               _INFO)
AugViTBase = register_variant(VisionTransformer, "aug_vit_base", "AugViTBase", AUG_VIT_CONFIGS["aug_vit_base"], _INFO)
