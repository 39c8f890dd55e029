"""Per-channel input normalisation statistics on the 0-255 scale, shared by models and datasets."""

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# Google's ViT (and timm's augreg ViTs) scale to [-1, 1].
INCEPTION_MEAN = INCEPTION_STD = (0.5 * 255,) * 3
