"""Keeps non-trainable state (BatchNorm moving statistics) identical across replicas and workers.

Keras 3 BatchNormalization updates its moving mean and variance from each replica's own batch
and never all-reduces them, so under `MultiWorkerMirroredStrategy` every worker ends an epoch
with different statistics (the trainable weights stay identical). PyTorch DDP hides this by
broadcasting rank 0's buffers; here they are averaged over all replicas at the end of every
epoch, before the checkpoint is written, so every worker holds, saves and evaluates the same model.
"""

import keras


class SyncNonTrainableVariables(keras.callbacks.Callback):
    """All-reduces (mean) every floating-point non-trainable variable at the end of each epoch."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self._step = None

    def on_epoch_end(self, epoch, logs=None):
        synchronize_non_trainable(self.model, self.strategy)


def synchronize_non_trainable(model, strategy):
    """Replaces each floating non-trainable variable by its mean over all replicas (a collective:
    every worker must call it at the same point)."""
    import tensorflow as tf

    variables = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
    if not variables or strategy.num_replicas_in_sync == 1:
        return

    @tf.function
    def all_reduce():
        def replica_fn():
            context = tf.distribute.get_replica_context()
            return context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in variables])

        return strategy.run(replica_fn)

    reduced = all_reduce()
    for variable, value in zip(variables, reduced):
        variable.assign(strategy.experimental_local_results(value)[0])
