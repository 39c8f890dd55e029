"""Federated positive-unlabelled learning (FedPU, 2106.10904): every flag of
`keras_hire.methods.federated.FedPUConfig`.

    # the released MNIST setting on the embedded digits: 10 clients, [4,4,3,3,2,2,1,1,1,1] positives, 33% labelled
    python training/fedpu.py --loss=fedpu --rounds=100 --model_dir=runs/fedpu
    # baselines: FedAvg on the labelled positives only, and fully supervised FedAvg
    python training/fedpu.py --loss=positives_only --rounds=100 --model_dir=runs/positives_only
    # the same federation on Flower: a SuperLink and one SuperNode per client on 127.0.0.1
    python training/fedpu.py --runtime=flower --clients=3 --positive_classes_per_client=2,1,1 \\
        --classes_per_client=2 --rounds=5 --clients_per_round=3 --model_dir=runs/fedpu_flower

Writes <model_dir>/federation_state.npz after every round (started again with the same flags, the
run resumes after the last written round), model.keras, fedpu_report.md/.json, accuracy.png and
tflite/ (the final global model, verified against Keras).
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from keras_hire.methods.federated.config import FedPUConfig  # noqa: E402
from keras_hire.utils.flags import run_config_binary  # noqa: E402


def main(config):
    from keras_hire.methods.federated.run import run_fedpu

    report = run_fedpu(config)
    print(json.dumps({"final_accuracy": report["final_accuracy"], "rounds": len(report["rounds"]),
                      "model_dir": report["config"]["model_dir"]}, indent=2))


if __name__ == "__main__":
    run_config_binary(FedPUConfig, main)
