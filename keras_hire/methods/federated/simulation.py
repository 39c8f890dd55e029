"""The in-process FedPU federation: the data of every client, the global model, and the round loop.

```python
from keras_hire.methods.federated import FedPUConfig, simulate
state = simulate(FedPUConfig(rounds=30, loss="fedpu", model_dir="runs/fedpu"))
state.history[-1]["accuracy"]
```
"""

import dataclasses
import hashlib
import json
import os

import keras
import numpy as np

from keras_hire.methods.federated.client import LocalTrainer, initial_client_state
from keras_hire.methods.federated.server import STATE_FILE, run_rounds
from keras_hire.methods.federated.splits import client_splits
from keras_hire.models.registry import model_info
from keras_hire.utils.atomic import atomic_save


@dataclasses.dataclass
class FederationData:
    """Preprocessed training images, the clients' shares of them, and the server's test set."""

    clients: list
    train_images: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    input_shape: tuple

    def client_images(self, client):
        return self.train_images[client.indices]


def load_federation_data(config, cache_dir=None):
    """Splits `config.dataset` among `config.clients` clients as the released code does.

    With `cache_dir`, the preprocessed arrays are kept there (a Flower ClientApp process serves one
    message, so each round would otherwise decode the dataset again)."""
    from keras_hire.data import get_source

    train = get_source(config.dataset, "train", config.data_dir)
    size = tuple(model_info(config.model).input_size)
    arrays = _cached_arrays(config, train, size, cache_dir)
    clients = client_splits(arrays["train_labels"], config.clients, config.classes_per_client,
                            config.positive_classes_per_client, config.labelled_fraction,
                            num_classes=train.num_classes, seed=config.seed)
    return FederationData(clients, arrays["train_images"], arrays["test_images"], arrays["test_labels"],
                          train.num_classes, (*size, train.channels))


def data_cache_file(config, cache_dir):
    """Where `load_federation_data(config, cache_dir)` keeps its arrays (copy it to prime a node)."""
    size = tuple(model_info(config.model).input_size)
    key = json.dumps([config.dataset, config.data_dir, size, config.train_examples, config.test_examples])
    return os.path.join(cache_dir, f"fedpu_data_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz")


def _cached_arrays(config, train, size, cache_dir):
    from keras_hire.data import eval_arrays, eval_split_name, get_source

    path = cache_dir and data_cache_file(config, cache_dir)
    if path and os.path.exists(path):
        with np.load(path) as data:
            return dict(data)
    test = get_source(config.dataset, eval_split_name(config.dataset, config.data_dir), config.data_dir)
    # A limited run takes a fixed class-balanced subset (stored orders are often sorted by class).
    train_images, train_labels = eval_arrays(train, size, train.channels, limit=config.train_examples,
                                             crop_fraction=1.0, shuffle_seed=0 if config.train_examples else None)
    test_images, test_labels = eval_arrays(test, size, train.channels, limit=config.test_examples, crop_fraction=1.0,
                                           shuffle_seed=0 if config.test_examples else None)
    arrays = dict(train_images=train_images.astype(np.float32), train_labels=np.asarray(train_labels, np.int64),
                  test_images=test_images.astype(np.float32), test_labels=np.asarray(test_labels, np.int64))
    if path:
        atomic_save(path, lambda temp: np.savez(temp, **arrays))
    return arrays


def build_model(config, data):
    """The global model, its initial weights seeded by `config.seed` (every runtime builds the same)."""
    from keras_hire.models import create_model

    keras.utils.set_random_seed(config.seed)
    return create_model(config.model, num_classes=data.num_classes, input_shape=data.input_shape)


def accuracy_of(model, images, labels, weights=None):
    if weights is not None:
        model.set_weights(weights)
    logits = model.predict(images, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def state_path(config):
    return os.path.join(config.model_dir, STATE_FILE) if config.model_dir else None


def simulate(config, data=None, log=print):
    """Runs the federation in this process; returns the final `FederationState` (resumes from
    `config.model_dir` when a state file is there)."""
    data = data or load_federation_data(config)
    model = build_model(config, data)
    trainer = LocalTrainer(model, config)
    evaluator = build_model(config, data)

    def train_round(weights, round_number, plan, client_states):
        updates = []
        for client_id, epochs in plan:
            client = data.clients[client_id]
            state = client_states.get(client_id) or initial_client_state(model)
            updates.append(trainer.train(weights, client, data.client_images(client), state, round_number,
                                         epochs, config.seed))
        return updates, {}

    def evaluate(weights):
        return {"accuracy": accuracy_of(evaluator, data.test_images, data.test_labels, weights)}

    return run_rounds(config, model.get_weights(), train_round, evaluate, state_path(config), log)
