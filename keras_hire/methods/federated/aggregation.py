"""Server-side aggregation and client scheduling of the released FedPU code (`roles/aggregator.py`,
`roles/FmpuTrainer.py`, `modules/fedprox.py`).

Weights are whole `model.get_weights()` lists, so BatchNorm moving statistics are averaged with
the kernels, as the released aggregator averages the whole `state_dict`.
"""

import numpy as np


def fedavg(weight_lists, num_examples=None, weighted=False):
    """The average of clients' weight lists.

    Args:
        weight_lists: one `model.get_weights()` list per client, in a fixed order.
        num_examples: samples per client (used when `weighted`).
        weighted: `False` gives every client the same weight (the released aggregator, which uses a
            fixed sample size of 500 for every client); `True` weights by `num_examples` (McMahan et al.).
    """
    if not weight_lists:
        raise ValueError("fedavg received no client weights: every selected client failed this round.")
    if weighted:
        if num_examples is None or len(num_examples) != len(weight_lists) or min(num_examples) <= 0:
            raise ValueError(f"weighted fedavg needs a positive sample count per client; got {num_examples}.")
        coefficients = np.asarray(num_examples, np.float64) / float(np.sum(num_examples))
    else:
        coefficients = np.full(len(weight_lists), 1.0 / len(weight_lists))
    lengths = {len(w) for w in weight_lists}
    if len(lengths) != 1:
        raise ValueError(f"clients returned weight lists of different lengths {sorted(lengths)}; every client "
                         "must train the same architecture.")
    averaged = []
    for arrays in zip(*weight_lists):
        total = sum(c * np.asarray(a, np.float64) for c, a in zip(coefficients, arrays))
        averaged.append(total.astype(arrays[0].dtype))
    return averaged


def select_clients(seed, round_number, num_clients, clients_per_round):
    """The round's clients: `clients_per_round` drawn without replacement (released `clients_select`),
    from a generator seeded by `(seed, round)` so that a resumed run draws what the first run would."""
    rng = np.random.RandomState([seed, round_number, 1])
    return [int(c) for c in rng.choice(num_clients, clients_per_round, replace=False)]


def straggler_epochs(seed, round_number, num_clients, local_epochs, straggler_percentage):
    """Local epochs per client for the round (released `GenerateLocalEpochs`): a `straggler_percentage`
    share of clients gets a uniform draw in [1, local_epochs), the others `local_epochs`."""
    if straggler_percentage == 0 or local_epochs <= 1:
        return [int(local_epochs)] * num_clients
    rng = np.random.RandomState([seed, round_number, 2])
    stragglers = int(straggler_percentage / 100 * num_clients)
    epochs = np.append(rng.randint(1, local_epochs, stragglers), [local_epochs] * (num_clients - stragglers))
    rng.shuffle(epochs)
    return [int(e) for e in epochs]
