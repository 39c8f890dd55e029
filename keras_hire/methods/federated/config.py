"""`FedPUConfig`: every setting of a FedPU federation; the flags of training/fedpu.py come from it.

Defaults are the released code's (options.py, config.py, the provided scripts) where they apply to
10 clients: SGD lr 0.01, momentum 0.9, x0.992 per round a client takes part, batch 500, 2 local
epochs, 5 classes per client, positive classes [4,4,3,3,2,2,1,1,1,1], 33% of each positive class
labelled, equal-weight FedAvg, FedProx mu 0 with 50% stragglers.
"""

import dataclasses
from typing import Optional, Tuple

from keras_hire.utils.config import Config, config_field

RELEASED_POSITIVES = (4, 4, 3, 3, 2, 2, 1, 1, 1, 1)


@dataclasses.dataclass
class FedPUConfig(Config):
    model: str = config_field("fedpu_cnn_mnist", help="Registered model name (fedpu_cnn_mnist, fedpu_resnet9, ...).")
    dataset: str = config_field("mnist_5k", help="Dataset: mnist_5k (embedded), folder or tfds:<name>.")
    data_dir: Optional[str] = config_field(None, help="Image folder / TFDS directory (folder and tfds only).")
    clients: int = config_field(10, help="Number of clients.", min=1)
    classes_per_client: int = config_field(5, help="Classes each client holds (released split).", min=1)
    positive_classes_per_client: Tuple[int, ...] = config_field(
        RELEASED_POSITIVES, help="Positive (labelled) classes per client, one count per client.", min=0)
    labelled_fraction: float = config_field(0.33, help="Fraction of each positive class kept labelled.",
                                            greater_than=0.0, less_than=1.0)
    rounds: int = config_field(20, help="Communication rounds.", min=1,
                               fix="run at least one round (--rounds=1 or more)")
    clients_per_round: int = config_field(10, help="Clients trained per round (drawn without replacement).", min=1)
    local_epochs: int = config_field(2, help="Local epochs per round (the released scripts' 2).", min=1)
    batch_size: int = config_field(500, help="Client batch size (released pu_batchsize).", min=1)
    learning_rate: float = config_field(0.01, help="Client SGD learning rate.", greater_than=0.0)
    momentum: float = config_field(0.9, help="Client SGD momentum (kept per client across rounds).",
                                    min=0.0, less_than=1.0)
    lr_decay: float = config_field(0.992, help="Client lr factor per round the client takes part (StepLR).",
                                   greater_than=0.0, max=1.0)
    aggregator: str = config_field("fedavg", help="Server aggregation.", choices=("fedavg", "fedprox"))
    weighted: bool = config_field(False, help="Weight clients by sample count (the released code: equal weights).")
    proximal_mu: float = config_field(0.0, help="FedProx mu (released default 0).", min=0.0)
    straggler_percentage: float = config_field(50.0, help="FedProx: % of clients with fewer local epochs.",
                                               min=0.0, max=100.0)
    loss: str = config_field("fedpu", help="Client objective: the PU risk, CE on labelled positives only, or "
                             "CE on every sample with its true label (upper bound).",
                             choices=("fedpu", "positives_only", "supervised"))
    pu_weight: float = config_field(1.0, help="Weight of the PU terms.", min=0.0)
    runtime: str = config_field("simulation", help="In-process simulation or a Flower federation.",
                                choices=("simulation", "flower"))
    flower_timeout: float = config_field(600.0, help="Flower: seconds a round waits for client replies.",
                                         greater_than=0.0)
    train_examples: Optional[int] = config_field(None, help="Use only the first N training images (quick runs).",
                                                 min=1)
    test_examples: Optional[int] = config_field(None, help="Evaluate on only the first N test images.", min=1)
    seed: int = config_field(0, help="Seeds the split, the client draws, batch orders and initial weights.")
    model_dir: Optional[str] = config_field(None, help="Where the round checkpoint, report and TFLite go.")
    export_tflite: bool = config_field(True, help="Export the final global model to TFLite.")

    def check(self):
        if len(self.positive_classes_per_client) != self.clients:
            self.fail("positive_classes_per_client", f"it has {len(self.positive_classes_per_client)} entries for "
                      f"{self.clients} clients", "give one count per client")
        if self.clients_per_round > self.clients:
            self.fail("clients_per_round", f"only {self.clients} clients exist", f"use at most {self.clients}")
        too_many = [n for n in self.positive_classes_per_client if n > self.classes_per_client]
        if too_many:
            self.fail("positive_classes_per_client", f"{too_many} exceed classes_per_client={self.classes_per_client}",
                      "a client can label only the classes it holds")
        if self.loss == "fedpu" and 0 in self.positive_classes_per_client:
            self.fail("positive_classes_per_client", "a client with 0 positive classes has no labelled data",
                      "give every client at least one positive class")
