"""FedPU on Flower: the ServerApp and ClientApp logic (the app: flower_app/fedpu_app.py), built from
the simulation's own pieces.

The ServerApp runs `server.run_rounds` (same client draws, FedAvg, evaluation and state file as
the simulation); its `train_round` sends each drawn client's SuperNode a Flower `train` message
with the global weights, and collects the replies. The ClientApp runs `client.LocalTrainer` on
the partition named by its SuperNode's `partition-id`, and keeps its momentum and round count in
files under the SuperNode's `state-dir` (one file per round it took part in), so a restarted
federation continues them. Same config and seeds give the simulation's weights.

Run settings travel as one FedPUConfig JSON (`config-file` in the run config). Each SuperNode
builds the client split from the dataset it can read and keeps only its own partition: across
machines, point each node at its own copy of the data (`--dataset=folder --data_dir=...`).
"""

import functools
import glob
import os
import re

import numpy as np

from keras_hire.methods.federated.config import FedPUConfig
from keras_hire.utils.atomic import atomic_save

QUERY_TIMEOUT_S = 300.0


def _flwr():
    try:
        import flwr  # noqa: F401
    except ImportError as error:
        raise ImportError("The Flower runtime needs flwr: pip install 'keras_hire[federated]' "
                          "(or pip install 'flwr>=1.42,<1.43').") from error
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

    return ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict


def _config_from(text):
    import json

    return FedPUConfig.from_dict(json.loads(text))


# ---------------------------------------------------------------------------------------- client
@functools.lru_cache(maxsize=2)
def _client_setup(config_json, cache_dir):
    """Data, model and trainer of this process (one flwr-clientapp process serves one message)."""
    from keras_hire.methods.federated.client import LocalTrainer
    from keras_hire.methods.federated.simulation import build_model, load_federation_data

    config = _config_from(config_json)
    data = load_federation_data(config, cache_dir=cache_dir)
    model = build_model(config, data)
    return config, data, model, LocalTrainer(model, config)


def _state_file(state_dir, client_id, round_number):
    return os.path.join(state_dir, f"client{client_id}_round{round_number:06d}.npz")


def load_client_state(state_dir, client_id, before_round, model):
    """The client's state after the last round it took part in before `before_round`."""
    pattern = re.compile(rf"client{client_id}_round(\d+)\.npz$")
    rounds = sorted(int(m.group(1)) for m in (pattern.search(p) for p in
                    glob.glob(os.path.join(state_dir, f"client{client_id}_round*.npz"))) if m)
    rounds = [r for r in rounds if r < before_round]
    if not rounds:
        from keras_hire.methods.federated.client import initial_client_state

        return initial_client_state(model)
    with np.load(_state_file(state_dir, client_id, rounds[-1])) as data:
        count = int(data["count"])
        return {"momentum": [data[f"m{i}"] for i in range(count)], "rounds": int(data["rounds"])}


def save_client_state(state_dir, client_id, round_number, state):
    arrays = {f"m{i}": m for i, m in enumerate(state["momentum"])}
    atomic_save(_state_file(state_dir, client_id, round_number),
                lambda path: np.savez(path, count=len(state["momentum"]), rounds=state["rounds"], **arrays))


def client_train(message, context):
    """The ClientApp's `train`: local training of this node's partition on the sent global weights."""
    ArrayRecord, _, Message, MetricRecord, RecordDict = _flwr()
    settings = message.content["config"]
    state_dir = str(context.node_config.get("state-dir", "fedpu_client_state"))
    config, data, model, trainer = _client_setup(str(settings["fedpu"]), state_dir)
    client_id = int(context.node_config["partition-id"])
    if not 0 <= client_id < len(data.clients):
        raise ValueError(f"this SuperNode's partition-id={client_id} is not a client of a {len(data.clients)}-client "
                         "federation; start SuperNodes with --node-config 'partition-id=<0..clients-1>'.")
    if client_id != int(settings["client-id"]):
        raise ValueError(f"message for client {settings['client-id']} reached the SuperNode of client {client_id}.")
    round_number, epochs = int(settings["round"]), int(settings["epochs"])
    state = load_client_state(state_dir, client_id, round_number, model)
    client = data.clients[client_id]
    weights = message.content["arrays"].to_numpy_ndarrays()
    update = trainer.train(weights, client, data.client_images(client), state, round_number, epochs, config.seed)
    save_client_state(state_dir, client_id, round_number, update.state)
    metrics = {"client-id": client_id, "num-examples": update.num_examples, **update.metrics}
    content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=update.weights), "metrics": MetricRecord(metrics)})
    return Message(content, reply_to=message)


# ---------------------------------------------------------------------------------------- server
def partitions_of_nodes(grid, num_clients, timeout=QUERY_TIMEOUT_S):
    """`{client id: node id}` from a `query` to every connected SuperNode (waits for all clients)."""
    import time

    _, _, Message, _, RecordDict = _flwr()
    deadline = time.time() + timeout
    nodes = list(grid.get_node_ids())
    while len(nodes) < num_clients and time.time() < deadline:
        time.sleep(1.0)
        nodes = list(grid.get_node_ids())
    if len(nodes) < num_clients:
        raise RuntimeError(f"{len(nodes)} SuperNodes connected, {num_clients} clients needed; start one SuperNode per "
                           "client with --node-config 'partition-id=<i>'.")
    replies = grid.send_and_receive([Message(RecordDict(), dst_node_id=n, message_type="query") for n in nodes],
                                    timeout=timeout)
    node_of = {}
    for reply in replies:
        if not reply.has_error():
            node_of[int(reply.content["metrics"]["partition-id"])] = reply.metadata.src_node_id
    missing = sorted(set(range(num_clients)) - set(node_of))
    if missing:
        raise RuntimeError(f"no SuperNode answered for clients {missing}; start them with "
                           "--node-config 'partition-id=<i>'.")
    return node_of


def server_main(grid, context, log=print):
    """The ServerApp's `main`: the FedPU round loop with clients on SuperNodes."""
    ArrayRecord, ConfigRecord, Message, _, RecordDict = _flwr()
    from keras_hire.methods.federated.client import ClientUpdate
    from keras_hire.methods.federated.server import run_rounds
    from keras_hire.methods.federated.simulation import accuracy_of, build_model, load_federation_data, state_path

    config = FedPUConfig.from_json(str(context.run_config["config-file"]))
    data = load_federation_data(config, cache_dir=config.model_dir)
    model = build_model(config, data)
    node_of = partitions_of_nodes(grid, config.clients)
    config_json = config.to_json()

    def train_round(weights, round_number, plan, client_states):
        messages, sent = [], {}
        for client_id, epochs in plan:
            settings = ConfigRecord({"fedpu": config_json, "round": round_number, "epochs": epochs,
                                     "client-id": client_id})
            content = RecordDict({"arrays": ArrayRecord(numpy_ndarrays=list(weights)), "config": settings})
            messages.append(Message(content, dst_node_id=node_of[client_id], message_type="train",
                                    group_id=str(round_number)))
            sent[node_of[client_id]] = client_id
        updates, failures = [], {}
        replies = list(grid.send_and_receive(messages, timeout=config.flower_timeout))
        # Error replies the SuperLink writes for a dead node do not come from that node: match by message id.
        by_message = {m.metadata.message_id: sent[m.metadata.dst_node_id] for m in messages}
        for reply in replies:
            client_id = by_message.get(reply.metadata.reply_to_message_id, sent.get(reply.metadata.src_node_id))
            if reply.has_error():
                failures[client_id] = f"error {reply.error.code}: {reply.error.reason}"
                continue
            metrics = reply.content["metrics"]
            updates.append(ClientUpdate(int(metrics["client-id"]), reply.content["arrays"].to_numpy_ndarrays(),
                                        int(metrics["num-examples"]), {"loss": float(metrics["loss"])}, None))
        replied = {u.client_id for u in updates} | set(failures)
        failures.update({c: f"no reply within {config.flower_timeout:.0f}s" for c in sent.values() if c not in replied})
        return updates, failures

    def evaluate(weights):
        return {"accuracy": accuracy_of(model, data.test_images, data.test_labels, weights)}

    return run_rounds(config, model.get_weights(), train_round, evaluate, state_path(config), log)

