"""Client data as the released FedPU code splits it (`datasets/dataSpilt.py`).

1. `split_image_data`: each client gets `N // clients` samples, `classes_per_client` classes of
   equal share, classes dealt round-robin across clients from per-class shuffled pools.
2. Positive classes per client: client i takes `positive_classes_per_client[i]` classes, scanning
   from a running offset (the count of classes the earlier clients took), skipping classes with
   40 samples or fewer at that client.
3. `puSpilt_index`: for each positive class with at least 40 samples, the first
   `int(labelled_fraction * n_i)` samples (in label-sorted order) stay labelled, the next
   `int((1 - labelled_fraction) * n_i)` become unlabelled (label `C + y`); every other class is all
   unlabelled. Priors are `n_i * (1 - labelled_fraction) / |U|` for positive classes and
   `n_i / |U|` for the others, with |U| = N_k - sum of the labelled counts.
A truncation remainder (when `int(a) + int(b) < n_i`) keeps its label, as in the released code.
"""

import dataclasses
from typing import Tuple

import numpy as np

MIN_CLASS_SIZE = 40  # the released threshold for a class to be positive / labelled


@dataclasses.dataclass(frozen=True)
class ClientData:
    """One client's share: `indices` into the training arrays and their FedPU labels.

    Attributes:
        client_id: 0-based client number.
        indices: positions of the client's samples in the training set.
        labels: `y` for labelled samples, `C + y` for unlabelled ones (same order as `indices`).
        true_labels: the class of every sample (used only by the supervised upper bound).
        positive_classes: the client's labelled classes.
        priors: length-C class fractions of the client's unlabelled data.
    """

    client_id: int
    indices: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    positive_classes: Tuple[int, ...]
    priors: np.ndarray

    @property
    def num_examples(self):
        return int(len(self.indices))

    @property
    def num_labelled(self):
        return int(np.sum(self.labels < len(self.priors)))


def split_image_data(labels, num_clients, classes_per_client, rng):
    """The released `split_image_data`: one index array per client (`rng` shuffles each class pool)."""
    labels = np.asarray(labels)
    num_labels = int(labels.max()) + 1
    per_client = len(labels) // num_clients
    per_class = per_client // classes_per_client
    if per_class < 1:
        raise ValueError(f"{len(labels)} samples cannot give {num_clients} clients {classes_per_client} classes "
                         "each; use fewer clients or fewer classes per client.")
    pools = [list(np.flatnonzero(labels == c)) for c in range(num_labels)]
    for pool in pools:
        rng.shuffle(pool)
    clients, c = [], 0
    for _ in range(num_clients):
        taken, budget = [], per_client
        while budget > 0:
            take = min(per_class, len(pools[c]), budget)
            taken += pools[c][:take]
            pools[c] = pools[c][take:]
            budget -= take
            c = (c + 1) % num_labels
            if not any(pools):
                break
        clients.append(np.asarray(taken, np.int64))
    return clients


def choose_positive_classes(sample_counts, positive_classes_per_client, num_classes):
    """The released positive-class scan (the `randomIndex_num` branch): one list per client."""
    quota = sum(positive_classes_per_client) / num_classes
    chosen, offset = [], 0
    for counts, wanted in zip(sample_counts, positive_classes_per_client):
        picked, per_class = [], [0] * num_classes
        for j in range(wanted):
            k = 0
            while True:
                index = (offset + j + k) % num_classes
                if counts[index] > MIN_CLASS_SIZE and per_class[index] < quota and index not in picked:
                    picked.append(index)
                    per_class[index] += 1
                    break
                if k > num_classes:
                    break
                k += 1
        chosen.append(picked)
        offset += len(picked)
    return chosen


def pu_split(labels, positive_classes, labelled_fraction, num_classes):
    """The released `puSpilt_index` + `relabel_K` for one client: `(fedpu_labels, priors)`."""
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    labelled_size = sum(int(counts[i] * labelled_fraction) for i in positive_classes)
    unlabelled_size = len(labels) - labelled_size
    order = labels.argsort()  # the released (default-kind) sort, so ties fall as they do there
    unlabelled, priors, bias = [], [], 0
    for i in range(num_classes):
        n = int(counts[i])
        if n == 0:
            priors.append(0.0)
        elif i in positive_classes and n >= MIN_CLASS_SIZE:
            bias += int(labelled_fraction * n)
            unlabelled.extend(order[bias:int(bias + (1 - labelled_fraction) * n)])
            bias += int((1 - labelled_fraction) * n)
            priors.append(n * (1 - labelled_fraction) / unlabelled_size)
        else:
            unlabelled.extend(order[bias:bias + n])
            bias += n
            priors.append(n / unlabelled_size)
    fedpu_labels = labels.copy()
    fedpu_labels[np.asarray(unlabelled, np.int64)] += num_classes
    return fedpu_labels, np.asarray(priors, np.float32)


def client_splits(labels, num_clients=10, classes_per_client=5,
                  positive_classes_per_client=(4, 4, 3, 3, 2, 2, 1, 1, 1, 1), labelled_fraction=0.33,
                  num_classes=None, seed=0):
    """The FedPU clients of a labelled training set, as the released code builds them.

    Args:
        labels: `(N,)` int class labels of the training set.
        num_clients: number of clients.
        classes_per_client: classes each client holds (the released default 5).
        positive_classes_per_client: how many of its classes each client labels (one per client).
        labelled_fraction: fraction of each positive class kept labelled (the released 0.33).
        num_classes: C (default: `max(labels) + 1`).
        seed: seeds the per-class shuffles.

    Returns:
        A list of `ClientData`.
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    num_classes = int(num_classes or labels.max() + 1)
    positive_classes_per_client = [int(n) for n in positive_classes_per_client]
    if len(positive_classes_per_client) != num_clients:
        raise ValueError(f"positive_classes_per_client has {len(positive_classes_per_client)} entries for "
                         f"{num_clients} clients; give one count per client, e.g. [4,4,3,3,2,2,1,1,1,1] for 10.")
    bad = [n for n in positive_classes_per_client if not 0 <= n <= classes_per_client]
    if bad:
        raise ValueError(f"positive_classes_per_client={positive_classes_per_client} has {bad} outside "
                         f"[0, {classes_per_client}] (a client labels at most the classes it holds).")
    if not 0.0 < labelled_fraction < 1.0:
        raise ValueError(f"labelled_fraction={labelled_fraction} must be in (0, 1), e.g. 0.33.")
    rng = np.random.RandomState(seed)
    shares = split_image_data(labels, num_clients, classes_per_client, rng)
    counts = [np.bincount(labels[share], minlength=num_classes) for share in shares]
    positives = choose_positive_classes(counts, positive_classes_per_client, num_classes)
    clients = []
    for client_id, (share, picked) in enumerate(zip(shares, positives)):
        fedpu_labels, priors = pu_split(labels[share], picked, labelled_fraction, num_classes)
        client = ClientData(client_id, share, fedpu_labels, labels[share], tuple(picked), priors)
        if client.num_labelled == 0:
            raise ValueError(
                f"client {client_id} has no labelled data (positive classes {list(picked)}, class counts "
                f"{counts[client_id].tolist()}): FedPU needs at least one positive class with more than "
                f"{MIN_CLASS_SIZE} samples per client. Give it a positive class, or fewer clients.")
        clients.append(client)
    return clients
