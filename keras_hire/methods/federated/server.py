"""The server's round loop, shared by the in-process simulation and the Flower ServerApp.

Each round: draw the clients (seeded by round), ask `train_round` for their updates (in process,
or as Flower messages), average them (FedAvg; FedProx differs on the client side only), evaluate
the global model, then write the whole federation state (round, global weights, client states the
server holds, history) to one file atomically. A killed run resumes after its last written round
and gives the weights the uninterrupted run would have.
"""

import dataclasses
import io
import json
import os
import time

import numpy as np

from keras_hire.methods.federated.aggregation import fedavg, select_clients, straggler_epochs
from keras_hire.utils.atomic import atomic_write_bytes

STATE_FILE = "federation_state.npz"


@dataclasses.dataclass
class FederationState:
    """What a round leaves behind: enough to continue, and the record of every round so far."""

    round: int
    weights: list
    history: list
    client_states: dict  # client id -> {"momentum": [...], "rounds": int}; empty when clients keep their own


def save_state(path, state):
    arrays = {f"w{i}": w for i, w in enumerate(state.weights)}
    meta = {"round": state.round, "history": state.history, "num_weights": len(state.weights), "clients": {}}
    for client_id, client_state in state.client_states.items():
        meta["clients"][str(client_id)] = {"rounds": client_state["rounds"], "num": len(client_state["momentum"])}
        arrays.update({f"c{client_id}_{i}": m for i, m in enumerate(client_state["momentum"])})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path):
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes().decode("utf-8"))
        weights = [data[f"w{i}"] for i in range(meta["num_weights"])]
        clients = {int(c): {"rounds": v["rounds"], "momentum": [data[f"c{c}_{i}"] for i in range(v["num"])]}
                   for c, v in meta["clients"].items()}
    return FederationState(meta["round"], weights, meta["history"], clients)


def round_plan(config, round_number):
    """`[(client id, local epochs), ...]` for the round, in the order the server aggregates them."""
    selected = select_clients(config.seed, round_number, config.clients, config.clients_per_round)
    percentage = config.straggler_percentage if config.aggregator == "fedprox" else 0.0
    epochs = straggler_epochs(config.seed, round_number, config.clients, config.local_epochs, percentage)
    return [(client_id, epochs[client_id]) for client_id in selected]


def run_rounds(config, initial_weights, train_round, evaluate, state_path=None, log=print):
    """Runs rounds `last written + 1 .. config.rounds`; returns the final `FederationState`.

    Args:
        config: a `FedPUConfig`.
        initial_weights: the global model's starting `get_weights()` (used when no state is written).
        train_round: `train_round(weights, round_number, plan, client_states)` -> `(updates, failures)`,
            `updates` a list of `ClientUpdate`, `failures` `{client id: reason}` for clients that did not reply.
        evaluate: `evaluate(weights)` -> `{"accuracy": ..., ...}` of the global model.
        state_path: the federation state file (None: nothing written, no resume).
    """
    if config.rounds < 1:
        raise ValueError(f"rounds={config.rounds}: a federation needs at least one round (--rounds=1 or more).")
    if state_path and os.path.exists(state_path):
        state = load_state(state_path)
        log(f"resuming after round {state.round} from {state_path}")
    else:
        state = FederationState(0, [np.asarray(w) for w in initial_weights], [], {})
    for round_number in range(state.round + 1, config.rounds + 1):
        start = time.time()
        plan = round_plan(config, round_number)
        updates, failures = train_round(state.weights, round_number, plan, state.client_states)
        if not updates:
            raise RuntimeError(f"round {round_number}: no selected client replied ({failures}); the global model "
                               f"and the state file stay at round {state.round}. Restart the clients and run again.")
        order = {client_id: i for i, (client_id, _) in enumerate(plan)}
        updates = sorted(updates, key=lambda u: order[u.client_id])
        weights = fedavg([u.weights for u in updates], [u.num_examples for u in updates], config.weighted)
        metrics = evaluate(weights)
        record = {"round": round_number, "clients": [u.client_id for u in updates],
                  "failed": {str(k): v for k, v in failures.items()},
                  "client_loss": float(np.mean([u.metrics["loss"] for u in updates])),
                  "seconds": time.time() - start,
                  "bytes_per_client": int(sum(np.asarray(w).nbytes for w in updates[0].weights)), **metrics}
        client_states = dict(state.client_states)
        client_states.update({u.client_id: u.state for u in updates if u.state is not None})
        state = FederationState(round_number, weights, state.history + [record], client_states)
        if state_path:
            save_state(state_path, state)
        failed = f", failed {sorted(map(str, failures))}" if failures else ""
        log(f"round {round_number}/{config.rounds}: accuracy {metrics['accuracy']:.4f}, client loss "
            f"{record['client_loss']:.4f}, clients {record['clients']}{failed}, {record['seconds']:.1f}s")
    return state
