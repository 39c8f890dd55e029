"""A real Flower federation on 127.0.0.1: a SuperLink and three SuperNodes as separate processes
run the FedPU app; its global weights must equal the in-process simulation's with the same seeds."""

import os

import numpy as np
import pytest

pytest.importorskip("flwr")

from keras_hire.methods.federated import FedPUConfig, load_federation_data, load_state, simulate  # noqa: E402
from keras_hire.methods.federated.flower_local import LocalFederation  # noqa: E402
from keras_hire.methods.federated.simulation import data_cache_file  # noqa: E402

TINY = dict(clients=3, classes_per_client=2, positive_classes_per_client=(2, 1, 1), clients_per_round=2,
            train_examples=600, test_examples=200, export_tflite=False, flower_timeout=300)


def test_three_supernodes_give_the_simulation_weights(tmp_path, grappler_on):  # bit for bit with the nodes
    config = FedPUConfig(rounds=2, runtime="flower", model_dir=str(tmp_path / "run"), **TINY)
    data = load_federation_data(config, cache_dir=str(tmp_path))  # decoded once, copied to every process
    with LocalFederation(3, str(tmp_path / "flower")) as federation:
        code, output = federation.run_app(config, timeout=900, data_cache=data_cache_file(config, str(tmp_path)))
    assert code == 0, output[-3000:]
    flower = load_state(os.path.join(config.model_dir, "federation_state.npz"))
    simulated = simulate(config.replace(runtime="simulation", model_dir=None), data)
    assert flower.round == 2 and [r["clients"] for r in flower.history] == [r["clients"] for r in simulated.history]
    assert [r["failed"] for r in flower.history] == [{}, {}]
    for a, b in zip(flower.weights, simulated.weights):
        np.testing.assert_array_equal(a, b)
    assert [r["accuracy"] for r in flower.history] == [r["accuracy"] for r in simulated.history]
    # Each node kept its own client state: one file per round the client took part in.
    taken = sorted(c for r in flower.history for c in r["clients"])
    files = sorted(int(name[len("client"):name.index("_")]) for node in range(3)
                   for name in os.listdir(tmp_path / "flower" / f"node{node}_state") if name.startswith("client"))
    assert files == taken


@pytest.mark.slow
def test_a_supernode_killed_mid_round_leaves_the_round_to_the_others(tmp_path):
    import threading
    import time

    # Round 1 waits flower_timeout seconds for the dead node.
    config = FedPUConfig(rounds=2, runtime="flower", model_dir=str(tmp_path / "run"),
                         **dict(TINY, clients_per_round=3, flower_timeout=75))
    load_federation_data(config, cache_dir=str(tmp_path))
    result = {}
    with LocalFederation(3, str(tmp_path / "flower")) as federation:
        runner = threading.Thread(target=lambda: result.update(zip(("code", "output"), federation.run_app(
            config, timeout=900, data_cache=data_cache_file(config, str(tmp_path))))))
        runner.start()
        log = tmp_path / "flower" / "supernode2.log"
        deadline = time.time() + 600
        while time.time() < deadline and "Receiving: train message" not in log.read_text(errors="ignore"):
            time.sleep(0.5)
        federation.kill_node(2)  # while its ClientApp trains round 1
        runner.join()
    assert result["code"] == 0, result["output"][-3000:]
    state = load_state(os.path.join(config.model_dir, "federation_state.npz"))
    assert state.round == 2
    assert [sorted(r["clients"]) for r in state.history] == [[0, 1], [0, 1]]
    assert [list(r["failed"]) for r in state.history] == [["2"], ["2"]]
    assert "Node Unavailable" in state.history[1]["failed"]["2"]  # the SuperLink's reply for a dead node
