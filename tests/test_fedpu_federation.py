"""FedPU federation pieces: the released client split on the digits, FedAvg, client draws, the
PyTorch-style client SGD, the round loop (resume, failed clients) and bad inputs."""

import os

import keras
import numpy as np
import pytest

from keras_hire.data import mnist_5k_arrays
from keras_hire.methods.federated import (
    ClientData,
    FedPUConfig,
    LocalTrainer,
    client_splits,
    fedavg,
    initial_client_state,
    load_state,
    run_rounds,
    select_clients,
    simulate,
    straggler_epochs,
)
from keras_hire.methods.federated.client import ClientUpdate
from keras_hire.utils.config import ConfigError

TINY = dict(clients=3, classes_per_client=2, positive_classes_per_client=(2, 1, 1), clients_per_round=2,
            train_examples=600, test_examples=200, export_tflite=False)


def test_the_released_split_of_the_digits():
    labels = mnist_5k_arrays()["train"][1]
    clients = client_splits(labels, seed=0)
    # 400 digits per client, 5 classes of 80; classes 0-4 go to the even clients, 5-9 to the odd ones.
    assert [c.num_examples for c in clients] == [400] * 10
    assert {tuple(np.unique(c.true_labels)) for c in clients[0::2]} == {(0, 1, 2, 3, 4)}
    assert [c.positive_classes for c in clients] == [(0, 1, 2, 3), (5, 6, 7, 8), (0, 1, 2), (5, 6, 7), (4, 0),
                                                     (6, 7), (0,), (9,), (0,), (5,)]
    # int(0.33 * 80) = 26 labelled, int(0.67 * 80) = 53 unlabelled; the truncated 80th keeps its label.
    assert [c.num_labelled for c in clients] == [108, 108, 81, 81, 54, 54, 27, 27, 27, 27]
    first = clients[0]
    assert np.sum(first.labels >= 10) == 400 - 108
    np.testing.assert_array_equal(first.labels % 10, first.true_labels)
    np.testing.assert_allclose(first.priors[:5], [53.6 / 296] * 4 + [80 / 296], rtol=1e-6)
    assert np.all(first.priors[5:] == 0)
    assert client_splits(labels, seed=0)[3].indices.tolist() == clients[3].indices.tolist()
    assert client_splits(labels, seed=1)[3].indices.tolist() != clients[3].indices.tolist()


def test_a_client_without_labelled_data_is_refused():
    labels = np.repeat(np.arange(10), 50)  # 10 clients of 50 digits, 10 per class: no class above 40
    with pytest.raises(ValueError, match="client 0 has no labelled data"):
        client_splits(labels, classes_per_client=5, seed=0)
    with pytest.raises(ConfigError, match="0 positive classes has no labelled data"):
        FedPUConfig(positive_classes_per_client=(1, 1, 1, 1, 1, 1, 1, 1, 1, 0))
    with pytest.raises(ConfigError, match="rounds=0"):
        FedPUConfig(rounds=0)
    with pytest.raises(ConfigError, match="3 entries for 10 clients"):
        FedPUConfig(positive_classes_per_client=(1, 1, 1))


def test_fedavg_equal_and_weighted_and_batchnorm_statistics():
    a = [np.array([1.0, 2.0], np.float32), np.array([[4.0]], np.float32)]
    b = [np.array([3.0, 6.0], np.float32), np.array([[0.0]], np.float32)]
    equal = fedavg([a, b], [100, 300])
    np.testing.assert_array_equal(equal[0], [2.0, 4.0])
    weighted = fedavg([a, b], [100, 300], weighted=True)
    np.testing.assert_allclose(weighted[0], [2.5, 5.0])
    np.testing.assert_allclose(weighted[1], [[1.0]])
    with pytest.raises(ValueError, match="no client weights"):
        fedavg([])
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    client_weights = []
    for shift in (1.0, 3.0):  # two clients whose BatchNorm saw different data
        model.layers[0].moving_mean.assign(np.full(4, shift, np.float32))
        client_weights.append(model.get_weights())
    model.set_weights(fedavg(client_weights))
    np.testing.assert_array_equal(model.layers[0].moving_mean.numpy(), np.full(4, 2.0))


def test_client_draws_and_stragglers_are_seeded_by_round():
    assert select_clients(0, 5, 10, 3) == select_clients(0, 5, 10, 3)
    assert select_clients(0, 5, 10, 3) != select_clients(0, 6, 10, 3)
    assert sorted(select_clients(0, 1, 10, 10)) == list(range(10))
    epochs = straggler_epochs(0, 1, 10, 10, 50)
    assert sorted(epochs)[5:] == [10] * 5 and all(1 <= e < 10 for e in sorted(epochs)[:5])
    assert straggler_epochs(0, 1, 10, 2, 0) == [2] * 10


def test_client_sgd_is_pytorch_sgd_with_per_client_momentum_and_decay():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3, use_bias=False)])
    config = FedPUConfig(loss="positives_only", batch_size=4, learning_rate=0.1, momentum=0.9, lr_decay=0.5)
    rng = np.random.RandomState(0)
    images = rng.randn(4, 2, 2, 1).astype(np.float32)
    client = ClientData(0, np.arange(4), np.array([0, 1, 2, 1]), np.array([0, 1, 2, 1]), (0, 1, 2),
                        np.full(3, 1 / 3, np.float32))
    trainer = LocalTrainer(model, config)

    def gradient(w):
        logits = images.reshape(4, 4) @ w
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return images.reshape(4, 4).T @ (p - np.eye(3)[client.labels]) / 4

    w0 = model.get_weights()[0]
    first = trainer.train([w0], client, images, initial_client_state(model), 1, 1, 0)
    g0 = gradient(w0)
    np.testing.assert_allclose(first.weights[0], w0 - 0.1 * g0, rtol=1e-5, atol=1e-6)
    second = trainer.train(first.weights, client, images, first.state, 2, 1, 0)
    g1 = gradient(first.weights[0])
    np.testing.assert_allclose(second.weights[0], first.weights[0] - 0.05 * (0.9 * g0 + g1), rtol=1e-5, atol=1e-6)
    assert second.state["rounds"] == 2 and second.metrics["learning_rate"] == pytest.approx(0.05)


def test_a_killed_simulation_resumes_to_the_same_weights(tmp_path):
    config = FedPUConfig(rounds=3, **TINY)
    straight = simulate(config)
    assert len(straight.history) == 3 and 0.0 <= straight.history[-1]["accuracy"] <= 1.0
    model_dir = str(tmp_path / "run")
    simulate(config.replace(rounds=2, model_dir=model_dir))
    assert load_state(os.path.join(model_dir, "federation_state.npz")).round == 2
    lines = []
    resumed = simulate(config.replace(model_dir=model_dir), log=lines.append)
    assert lines[0].startswith("resuming after round 2") and lines[1].startswith("round 3/3")
    for a, b in zip(resumed.weights, straight.weights):
        np.testing.assert_array_equal(a, b)
    assert [r["clients"] for r in resumed.history] == [r["clients"] for r in straight.history]
    fedprox = simulate(config.replace(aggregator="fedprox", proximal_mu=0.1, local_epochs=3, rounds=1))
    assert fedprox.history[0]["round"] == 1


def test_a_round_completes_without_a_failed_client_and_fails_clearly_without_any(tmp_path):
    config = FedPUConfig(rounds=2, clients=3, clients_per_round=3, classes_per_client=2,
                         positive_classes_per_client=(1, 1, 1))
    weights = [np.zeros(2, np.float32)]

    def one_dies(current, round_number, plan, states):
        updates = [ClientUpdate(c, [current[0] + c], 10, {"loss": 1.0}, None) for c, _ in plan if c != 1]
        return updates, {1: "no reply within 600s"}

    path = str(tmp_path / "state.npz")
    state = run_rounds(config, weights, one_dies, lambda w: {"accuracy": 0.5}, path, log=lambda line: None)
    assert state.history[0]["failed"] == {"1": "no reply within 600s"} and state.history[0]["clients"] != []
    np.testing.assert_allclose(state.weights[0], [2.0, 2.0])  # rounds of (0 + 2) / 2 and (1 + 3) / 2

    def all_die(current, round_number, plan, states):
        return [], {c: "killed" for c, _ in plan}

    with pytest.raises(RuntimeError, match="round 3: no selected client replied"):
        run_rounds(config.replace(rounds=3), weights, all_die, lambda w: {"accuracy": 0.0}, path, log=print)
    assert load_state(path).round == 2  # nothing recorded is lost
