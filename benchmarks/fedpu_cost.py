"""FedPU cost: seconds per round in the in-process simulation and on a local Flower federation
(a SuperLink and 3 SuperNodes on 127.0.0.1), and the bytes each client sends per round.

    python benchmarks/fedpu_cost.py --rounds=3 --output=benchmarks/results/fedpu_cost

Both runtimes run the same federation (3 clients of 400 digits, positive classes [2,1,1], every
client in every round, 2 local epochs, CNNMnist) and must end on the same weights (checked). A
Flower ClientApp process serves one message, so its round time includes starting Python and
TensorFlow on each node; the preprocessed digits are copied to every node first. Writes
<output>.json and <output>.md.
"""

import os
import shutil
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("rounds", 3, "Rounds per runtime (the first includes tracing / start-up).")
flags.DEFINE_string("output", "benchmarks/results/fedpu_cost", "Output stem (.json, .md).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    from keras_hire.methods.federated import FedPUConfig, load_federation_data, load_state, simulate
    from keras_hire.methods.federated.flower_local import LocalFederation
    from keras_hire.methods.federated.simulation import data_cache_file
    from keras_hire.utils.atomic import atomic_write_json, atomic_write_text

    workdir = tempfile.mkdtemp(prefix="fedpu_cost_")
    config = FedPUConfig(clients=3, classes_per_client=2, positive_classes_per_client=(2, 1, 1), clients_per_round=3,
                         train_examples=1200, test_examples=1000, rounds=FLAGS.rounds, export_tflite=False,
                         flower_timeout=900)
    data = load_federation_data(config, cache_dir=workdir)
    simulated = simulate(config, data)
    flower_config = config.replace(runtime="flower", model_dir=os.path.join(workdir, "run"))
    with LocalFederation(3, os.path.join(workdir, "flower")) as federation:
        code, output = federation.run_app(flower_config, data_cache=data_cache_file(config, workdir))
    if code != 0:
        raise RuntimeError(output[-3000:])
    flower = load_state(os.path.join(flower_config.model_dir, "federation_state.npz"))
    same = all(np.array_equal(a, b) for a, b in zip(flower.weights, simulated.weights))
    weights_bytes = int(sum(np.asarray(w).nbytes for w in simulated.weights))
    rows = {}
    for name, state in (("simulation", simulated), ("flower (3 SuperNodes)", flower)):
        seconds = [r["seconds"] for r in state.history]
        rows[name] = dict(first_round_s=seconds[0], later_round_s=float(np.mean(seconds[1:] or seconds)),
                          accuracy=state.history[-1]["accuracy"])
    result = dict(rounds=FLAGS.rounds, clients=3, same_weights=same, bytes_sent_per_client_per_round=weights_bytes,
                  bytes_received_per_client_per_round=weights_bytes, runtimes=rows, cpu_count=os.cpu_count())
    atomic_write_json(FLAGS.output + ".json", result)
    lines = [f"# FedPU cost ({FLAGS.rounds} rounds, 3 clients of 400 digits, CNNMnist, {os.cpu_count()} CPUs)", "",
             "| runtime | round 1 (s) | later rounds (s, mean) | final accuracy |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['first_round_s']:.1f} | {row['later_round_s']:.1f} | {row['accuracy']:.4f} |"
              for name, row in rows.items()]
    lines += ["", f"Each client sends its {weights_bytes:,} bytes of float32 weights per round (and receives the "
              f"global model, the same size); Flower's message framing adds to this. Same final weights on both "
              f"runtimes: {same}."]
    atomic_write_text(FLAGS.output + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
