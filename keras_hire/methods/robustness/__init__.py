"""Adversarial robustness (NADAR, 2108.06885): attacks, adversarial training, the ART check.

```python
from keras_hire.methods.robustness import Attack, pgd, robust_accuracy, with_normalization
pixel_model = with_normalization(model, mean=(0.1307 * 255,), std=(0.3081 * 255,))
adversarial = pgd(pixel_model, images, labels, epsilon=0.3, step_size=0.01, steps=40)
robust_accuracy(pixel_model, (images, labels), Attack.pgd(0.3, 0.01, 20))
```
"""

from keras_hire.methods.robustness.art_eval import ArtAttack, art_autoattack, art_classifier, art_pgd
from keras_hire.methods.robustness.attacks import Attack, fgsm, perturb, pgd, robust_accuracy
from keras_hire.methods.robustness.pixels import pixel_stats, to_pixels, with_normalization

__all__ = [
    "ArtAttack", "Attack", "art_autoattack", "art_classifier", "art_pgd", "fgsm", "perturb", "pgd", "pixel_stats",
    "robust_accuracy", "to_pixels", "with_normalization",
]
