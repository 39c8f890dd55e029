"""Training: config, tf.distribute strategies, AdamW warmup-cosine, resumable checkpoints, reports.

```python
from keras_hire.training import TrainConfig, train
report = train(TrainConfig(model="hire_mlp_tiny", dataset="mnist_5k", epochs=5, model_dir="runs/mnist"))
```
"""

from keras_hire.training.checkpoint import EpochCheckpoint, read_checkpoint_state, restore_checkpoint
from keras_hire.training.config import STRATEGIES, TrainConfig
from keras_hire.training.model_setup import build_model, compile_for_training, load_initial_weights
from keras_hire.training.reports import plot_training_curves, weights_digest, write_metrics
from keras_hire.training.schedule import WarmupCosine
from keras_hire.training.strategy import is_chief, make_strategy
from keras_hire.training.sync import SyncNonTrainableVariables, synchronize_non_trainable
from keras_hire.training.trainer import train

__all__ = [
    "EpochCheckpoint", "STRATEGIES", "TrainConfig", "WarmupCosine", "build_model", "compile_for_training",
    "is_chief", "load_initial_weights", "make_strategy", "plot_training_curves", "read_checkpoint_state",
    "SyncNonTrainableVariables", "restore_checkpoint", "synchronize_non_trainable", "train", "weights_digest",
    "write_metrics",
]
