"""TFMOT's QAT, pruning and clustering (and their collaborative combinations) as named stages on a tf_keras twin.

A compression recipe is a chain of stages, each trained, then stripped of its training wrappers before
the next one wraps the result:

| recipe                 | stages                               |
|---|---|
| `--qat`                | `qat` (default 8-bit scheme, BatchNorm folded) |
| `--prune_sparsity=s`   | `prune` (polynomial decay 0 -> s, then `strip_pruning`) |
| `--clusters=k`         | `cluster` (k-means++ centroids, then `strip_clustering`) |
| prune + qat            | `prune`, `pqat` (pruning-preserving QAT) |
| clusters + qat         | `cluster`, `cqat` (cluster-preserving QAT) |
| prune + clusters (+qat)| `prune`, `sparse_cluster` (sparsity-preserving clustering)(, `pcqat`) |
"""

import numpy as np

from keras_hire.methods.quantization.tf_keras_twin import load_tfmot

QAT_STAGES = ("qat", "pqat", "cqat", "pcqat")


def recipe(qat, prune_sparsity, clusters):
    """The stage names of a compression recipe, in training order."""
    stages = []
    if prune_sparsity:
        stages.append("prune")
    if clusters:
        stages.append("sparse_cluster" if prune_sparsity else "cluster")
    if qat:
        stages.append({(): "qat", ("prune",): "pqat", ("cluster",): "cqat",
                       ("prune", "sparse_cluster"): "pcqat"}[tuple(stages)])
    if not stages:
        raise ValueError("No compression asked for: set qat=True, prune_sparsity in (0, 1) or clusters >= 2 "
                         "(flags --qat, --prune_sparsity, --clusters).")
    return stages


def pruning_schedule(sparsity, total_steps):
    """Polynomial decay from 0 to `sparsity`, reached after 3/4 of the stage, masks updated 10 times on the way."""
    tfmot = load_tfmot()
    ramp = max(1, int(0.75 * total_steps))
    frequency = max(1, ramp // 10)
    return tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=float(sparsity), begin_step=0,
                                                end_step=frequency * (ramp // frequency), frequency=frequency)


def wrap(stage, model, prune_sparsity=None, clusters=None, total_steps=1):
    """`model` (a plain or stripped tf_keras model) wrapped for training stage `stage`."""
    tfmot = load_tfmot()
    clustering = tfmot.clustering.keras
    if stage == "qat":
        try:
            return annotated_quantize_apply(model)
        except RuntimeError as error:  # TFMOT names the layer its default scheme has no config for
            raise ValueError(f"TFMOT's QAT cannot take {model.name!r}: {error} Fix: QAT it natively "
                             "(training/qat.py --path=native), or prune/cluster it through TFMOT.") from error
    if stage == "prune":
        return tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=pruning_schedule(prune_sparsity,
                                                                                                   total_steps))
    if stage in ("cluster", "sparse_cluster"):
        from tensorflow_model_optimization.python.core.clustering.keras.experimental import cluster as experimental

        return experimental.cluster_weights(model, number_of_clusters=int(clusters),
                                            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
                                            preserve_sparsity=stage == "sparse_cluster")
    schemes = tfmot.experimental.combine
    scheme = {"pqat": lambda: schemes.Default8BitPrunePreserveQuantizeScheme(),
              "cqat": lambda: schemes.Default8BitClusterPreserveQuantizeScheme(),
              "pcqat": lambda: schemes.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)}[stage]()
    return annotated_quantize_apply(model, scheme)


def annotated_quantize_apply(model, scheme=None):
    """TFMOT's `quantize_model`, plus an 8-bit output quantizer on the weightless layers its default scheme
    has no config for (Multiply, Rescaling: GhostNet's squeeze-excite and hard-swish), so the int8
    file has int8 tensors there instead of float islands."""
    from keras_hire.methods.quantization.tf_keras_twin import load_tf_keras

    tfmot, tf_keras = load_tfmot(), load_tf_keras()
    quantization = tfmot.quantization.keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry_module,
    )

    registry = registry_module.Default8BitQuantizeRegistry()
    output_config = output_quantize_config_class()

    def annotate(layer):
        if layer.weights or isinstance(layer, tf_keras.layers.InputLayer) or registry.supports(layer):
            return layer
        return quantization.quantize_annotate_layer(layer, output_config())

    annotated = tf_keras.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    with quantization.quantize_scope({output_config.__name__: output_config}):
        annotated = quantization.quantize_annotate_model(annotated)
        return quantization.quantize_apply(annotated, scheme) if scheme else quantization.quantize_apply(annotated)


_OUTPUT_CONFIG = []


def output_quantize_config_class():
    """A TFMOT `QuantizeConfig` with no weights and one per-tensor asymmetric moving-average output quantizer."""
    if not _OUTPUT_CONFIG:
        quantization = load_tfmot().quantization.keras

        class OutputQuantizeConfig(quantization.QuantizeConfig):
            def get_weights_and_quantizers(self, layer):
                return []

            def get_activations_and_quantizers(self, layer):
                return []

            def set_quantize_weights(self, layer, quantize_weights):
                pass

            def set_quantize_activations(self, layer, quantize_activations):
                pass

            def get_output_quantizers(self, layer):
                return [quantization.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                                        narrow_range=False)]

            def get_config(self):
                return {}

        _OUTPUT_CONFIG.append(OutputQuantizeConfig)
    return _OUTPUT_CONFIG[0]


def strip(stage, model):
    """The trained stage's model without its training wrappers (QAT models keep theirs: the converter reads them)."""
    tfmot = load_tfmot()
    if stage == "prune":
        return tfmot.sparsity.keras.strip_pruning(model)
    if stage in ("cluster", "sparse_cluster"):
        return tfmot.clustering.keras.strip_clustering(model)
    return model


def stage_callbacks(stage):
    """The tf_keras callbacks a stage needs (pruning's step counter)."""
    return [load_tfmot().sparsity.keras.UpdatePruningStep()] if stage == "prune" else []


# The output-channel axis of each TFLite op's weight tensor (its second input).
_WEIGHT_CHANNEL_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}


def file_weight_statistics(flatbuffer):
    """What pruning and clustering leave in a TFLite file's conv/dense weights (float or int8).

    Returns `{"sparsity": zero fraction, "max_values_per_channel": most distinct values of one output
    channel}`: clustering to k centroids gives at most k per channel, in the int8 file too.
    """
    from keras_hire.export.interpreter import make_interpreter

    interpreter = make_interpreter(flatbuffer, xnnpack=False)
    zeros = total = most = 0
    for op in interpreter._get_ops_details():
        axis = _WEIGHT_CHANNEL_AXIS.get(op["op_name"])
        if axis is None:
            continue
        weights = interpreter.get_tensor(int(op["inputs"][1]))
        zeros += int(np.sum(weights == 0))
        total += weights.size
        channels = np.moveaxis(weights, axis, 0).reshape(weights.shape[axis], -1)
        most = max(most, max(len(np.unique(channel)) for channel in channels))
    return {"sparsity": zeros / max(total, 1), "max_values_per_channel": most}


def wrap_n_bit(model, weight_bits, activation_bits):
    """`model` wrapped for QAT with TFMOT's experimental n-bit scheme (simulated only: TFLite has 8-bit kernels).

    Used for the low-bit rows of the tables: the same wrapper with ranges calibrated and no training
    is post-training quantization at those bits, trained it is QAT.
    """
    quantization = load_tfmot().quantization.keras
    from tensorflow_model_optimization.python.core.quantization.keras.experimental.default_n_bit import (
        default_n_bit_quantize_scheme as n_bit,
    )

    scheme = n_bit.DefaultNBitQuantizeScheme(num_bits_weight=int(weight_bits), num_bits_activation=int(activation_bits))
    return quantization.quantize_apply(quantization.quantize_annotate_model(model), scheme)
