"""`tf.distribute` strategy by name: auto, one_device, mirrored, multi_worker, tpu.

Keras 3 on TensorFlow trains under `tf.distribute` (`keras.distribution` is a JAX-first API
whose TensorFlow side is a prototype). Create the strategy first thing in the program:
`MultiWorkerMirroredStrategy` must exist before any other TensorFlow op runs.
"""

import json
import os


def make_strategy(name="auto", tpu=""):
    """The `tf.distribute.Strategy` for `name`.

    - `auto`: TPU if `tpu` (or `TPU_NAME`) is set, multi-worker if `TF_CONFIG` lists more than
      one task, mirrored on several GPUs, else one device (GPU 0 or the CPU).
    - `one_device`: GPU 0 if there is one, else the CPU.
    - `mirrored`: all local GPUs (the CPU if none).
    - `multi_worker`: all-reduce across the workers of `TF_CONFIG` (each worker runs the same
      command with its own `TF_CONFIG` task index; worker 0 is the chief and writes files).
    - `tpu`: `TPUClusterResolver(tpu)` -> connect -> initialise -> `TPUStrategy`. Cannot be
      tested without a TPU; it follows the documented TF path.
    """
    import tensorflow as tf

    if name == "auto":
        name = _auto_name(tf, tpu)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([g.name for g in gpus] if gpus else ["/cpu:0"])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy='multi_worker' needs the TF_CONFIG environment variable, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
            )
        return _multi_worker_strategy(tf)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; use auto, one_device, mirrored, multi_worker or tpu.")


def is_chief(strategy=None):
    """True on the process that writes checkpoints, logs and reports (worker 0, or a lone process)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    if not task or not _is_multi_worker(config):
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in config.get("cluster", {})


def task_id():
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"


def _auto_name(tf, tpu):
    if tpu or os.environ.get("TPU_NAME"):
        return "tpu"
    if _is_multi_worker(json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")):
        return "multi_worker"
    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one_device"


def _is_multi_worker(config):
    cluster = config.get("cluster", {})
    return sum(len(tasks) for role, tasks in cluster.items() if role in ("chief", "worker")) > 1


def _multi_worker_strategy(tf):
    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """Works around two Keras 3.15 bugs with this strategy (both fail in `fit`):

        Keras reduces a whole `(x, y)` batch structure in one `reduce` call, which the
        collective cross-device ops do not accept; and it reduces scalar logs with `axis=0`.
        Reducing leaf by leaf, and scalars without an axis, gives what Keras means.
        """

        def reduce(self, reduce_op, value, axis=None):
            def reduce_leaf(leaf):
                local = self.experimental_local_results(leaf)[0]
                leaf_axis = None if axis is not None and len(getattr(local, "shape", ())) == 0 else axis
                return super(MultiWorkerMirroredStrategy, self).reduce(reduce_op, leaf, leaf_axis)

            return tf.nest.map_structure(reduce_leaf, value)

    return MultiWorkerMirroredStrategy()
