"""Mixed precision of PTQ for ViT (Sec. 3.4): one bit width per attention and per MLP module.

Each module's sensitivity is the nuclear norm of its attention map (attention) or output feature (MLP);
a bit configuration costs Omega = sum_i sigma_i ||Y_hat_i - Y_i||^2 (Eq. 18), and the configuration of least
Omega whose weight size does not exceed the uniform-b model's is taken from the Pareto front of
(size, Omega) over the modules.
"""

import numpy as np

# The paper's candidate bit sets per target; other targets use target +- 2 within [2, 16].
PAPER_BIT_SETS = {6: (4, 5, 6, 7, 8), 8: (6, 7, 8, 9, 10)}


def bit_set(target):
    """The candidate bit widths of mixed precision for a `target` average bit width."""
    return PAPER_BIT_SETS.get(target, tuple(range(max(2, target - 2), min(16, target + 2) + 1)))


def nuclear_norm(x):
    """Mean over the leading axes of the nuclear norm (sum of singular values) of the last two axes."""
    matrices = np.asarray(x, np.float64).reshape(-1, *x.shape[-2:])
    return float(np.linalg.svd(matrices, compute_uv=False).sum(axis=-1).mean())


def pareto_choice(sizes, errors, budget):
    """The bit choice per module minimising sum(errors) with sum(sizes) <= budget, via the Pareto front.

    Args:
        sizes: list over modules of dicts bits -> weight size (bits x parameters).
        errors: list over modules of dicts bits -> sigma x error (the module's term of Eq. 18).
        budget: the largest total size allowed.

    Returns:
        `(choice, size, omega)`: list of bits per module, its total size and Omega; raises `ValueError`
        when no configuration fits.

    Example:
    ```python
    pareto_choice([{4: 40, 8: 80}], [{4: 1.0, 8: 0.1}], budget=80)  # ([8], 80, 0.1)
    ```
    """
    front = [(0, 0.0, ())]
    for module_sizes, module_errors in zip(sizes, errors):
        grown = sorted((size + module_sizes[b], omega + module_errors[b], choice + (b,))
                       for size, omega, choice in front for b in module_sizes)
        front, best = [], np.inf
        for size, omega, choice in grown:  # keep only configurations no smaller-or-equal one beats
            if omega < best and size <= budget:
                front.append((size, omega, choice))
                best = omega
    if not front:
        raise ValueError(f"No bit configuration fits the size budget {budget}.")
    size, omega, choice = min(front, key=lambda item: (item[1], item[0]))
    return list(choice), size, omega
