"""FedPU (2106.10904): federated positive-unlabelled learning, simulated in process and on Flower.

```python
from keras_hire.methods.federated import FedPUConfig, pu_loss, run_fedpu, simulate
loss = pu_loss(logits, labels, priors, positive_classes=[0, 3])    # the released MPULoss_V2
report = run_fedpu(FedPUConfig(rounds=50, loss="fedpu", model_dir="runs/fedpu"))
```
See docs/federated.md. Flower (`flwr`) is imported only by the Flower runtime.
"""

from keras_hire.methods.federated.aggregation import fedavg, select_clients, straggler_epochs
from keras_hire.methods.federated.client import ClientUpdate, LocalTrainer, initial_client_state
from keras_hire.methods.federated.config import FedPUConfig
from keras_hire.methods.federated.pu_loss import check_priors, labelled_cross_entropy, pu_loss, pu_loss_terms
from keras_hire.methods.federated.run import run_fedpu
from keras_hire.methods.federated.server import FederationState, load_state, run_rounds
from keras_hire.methods.federated.simulation import FederationData, build_model, load_federation_data, simulate
from keras_hire.methods.federated.splits import ClientData, client_splits

__all__ = [
    "ClientData", "ClientUpdate", "FedPUConfig", "FederationData", "FederationState", "LocalTrainer", "build_model",
    "check_priors", "client_splits", "fedavg", "initial_client_state", "labelled_cross_entropy", "load_federation_data",
    "load_state", "pu_loss", "pu_loss_terms", "run_fedpu", "run_rounds", "select_clients", "simulate",
    "straggler_epochs",
]
