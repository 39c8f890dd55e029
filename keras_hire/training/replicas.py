"""Loss scaling across `tf.distribute` replicas for models that compute their own loss."""

import keras
from keras import ops


def num_replicas():
    """Replicas in sync of the current `tf.distribute` strategy (1 on other backends)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def per_replica_loss(value):
    """`value / replicas`: what a replica returns so that the summed gradients are the global mean's
    (what Keras' compiled losses do; a custom `compute_loss` must do it itself)."""
    replicas = num_replicas()
    return value if replicas == 1 else ops.multiply(value, ops.cast(1.0 / replicas, value.dtype))


def global_loss(value):
    """`value x replicas`: undoes `per_replica_loss` on a compiled loss, to mix it with unscaled terms."""
    replicas = num_replicas()
    return value if replicas == 1 else ops.multiply(value, ops.cast(replicas, value.dtype))
