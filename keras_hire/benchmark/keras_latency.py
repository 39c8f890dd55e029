"""Keras-side latency of a model compiled with XLA, for comparison with its TFLite file."""

import time

import numpy as np


def keras_xla_latency(model, warmup=3, runs=20):
    """Milliseconds per batch-1 forward pass of `model` compiled with XLA (`jit_compile=True`)."""
    import tensorflow as tf

    forward = tf.function(lambda images: model(images, training=False), jit_compile=True)
    images = tf.constant(np.random.default_rng(0).standard_normal((1,) + tuple(model.inputs[0].shape[1:])),
                         tf.float32)
    for _ in range(warmup):
        forward(images).numpy()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward(images).numpy()
        times.append((time.perf_counter() - start) * 1e3)
    return times
