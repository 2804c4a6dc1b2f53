"""Pruning- and cluster-preserving quantization-aware training of the students (tfmot 0.8.1).

After ``converters.sparsity`` pruned or clustered a student (and stripped it),
plain QAT would move the zeros off zero and the clusters apart. :func:`preserve_qat`
builds ``converters.qat``'s QAT model with a weight quantizer that keeps them:
``weight * mask`` for a pruned weight, ``centroids[indices]`` for a clustered one.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

from converters.errors import ConverterError
from converters.qat import (LayerQuantizeConfig, TokenIdQuantizeScheme, _calibrate_ranges, _custom_objects,
                            config_for)

PRESERVE_KINDS = ("prune", "cluster")
MAX_CENTROIDS = 256  # int8 has 256 levels: a weight with more distinct values was not clustered


class _PreservingQuantizer(tfmot.quantization.keras.quantizers.LastValueQuantizer):
    """tfmot's per-tensor symmetric int8 weight quantizer (as qat.py's), applied to a constrained weight."""

    def __init__(self):
        super().__init__(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)

    def constrained(self, inputs, weights):
        raise NotImplementedError

    def get_config(self):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return quant_ops.LastValueQuantize(self.constrained(inputs, weights), weights["min_var"],
                                           weights["max_var"], is_training=training, num_bits=self.num_bits,
                                           per_channel=self.per_axis, symmetric=self.symmetric,
                                           narrow_range=self.narrow_range)


class PrunePreservingQuantizer(_PreservingQuantizer):
    """Fake-quantizes ``weight * mask``; the mask (1 where the stripped weight was non-zero) is fixed.

    The masked entries get zero gradient, so Adam leaves them at exactly 0.
    """

    def build(self, tensor_shape, name, layer):
        out = super().build(tensor_shape, name, layer)
        out["sparsity_mask"] = layer.add_weight(f"{name}_sparsity_mask", shape=tensor_shape,
                                                initializer="ones", trainable=False)
        return out

    def constrained(self, inputs, weights):
        return inputs * weights["sparsity_mask"]

    def init_from(self, value, weights):
        weights["sparsity_mask"].assign((value != 0).astype(np.float32))


class ClusterPreservingQuantizer(_PreservingQuantizer):
    """Fake-quantizes ``centroids[indices]``: fixed assignments, trainable centroids (gradients summed per
    centroid, as tfmot's GradientAggregation.SUM). The wrapped layer's own weight is then unused (no
    gradient: tf-keras' optimizer warns once that it has none)."""

    def __init__(self, centroids: int):
        super().__init__()
        self.centroids = centroids

    def build(self, tensor_shape, name, layer):
        out = super().build(tensor_shape, name, layer)
        out["centroids"] = layer.add_weight(f"{name}_centroids", shape=(self.centroids,),
                                            initializer="zeros", trainable=True)
        out["indices"] = layer.add_weight(f"{name}_cluster_indices", shape=tensor_shape, dtype=tf.int32,
                                          initializer="zeros", trainable=False)
        return out

    def constrained(self, inputs, weights):
        return tf.gather(weights["centroids"], weights["indices"])

    def init_from(self, value, weights):
        centroids, indices = np.unique(value, return_inverse=True)
        weights["centroids"].assign(centroids.astype(np.float32))
        weights["indices"].assign(indices.reshape(value.shape).astype(np.int32))

    def get_config(self):
        return {"centroids": self.centroids}


class PreservingQuantizeConfig(LayerQuantizeConfig):
    """converters.qat's LayerQuantizeConfig with preserving quantizers for some of its weights.

    Args:
        preserve: ``{attribute: ("prune", None) | ("cluster", n_centroids)}``.
    """

    def __init__(self, weights=(), activation=False, output=False, preserve=None):
        super().__init__(weights, activation, output)
        self.preserve = dict(preserve or {})

    def get_weights_and_quantizers(self, layer):
        plain = dict(zip(self.weights, super().get_weights_and_quantizers(layer)))
        out = []
        for name in self.weights:
            kind, centroids = self.preserve.get(name, (None, None))
            if kind == "prune":
                out.append((getattr(layer, name), PrunePreservingQuantizer()))
            elif kind == "cluster":
                out.append((getattr(layer, name), ClusterPreservingQuantizer(centroids)))
            else:
                out.append(plain[name])
        return out

    def get_config(self):
        return {**super().get_config(), "preserve": self.preserve}

    def __eq__(self, other):
        return isinstance(other, PreservingQuantizeConfig) and self.get_config() == other.get_config()


def preserve_qat(model, kind: str, calibration: np.ndarray | None = None):
    """A quantization-aware copy of a stripped pruned / clustered student that keeps its zeros / clusters.

    tfmot's ``Default8BitPrunePreserveQuantizeScheme`` and
    ``Default8BitClusterPreserveQuantizeScheme`` cannot do this for a
    student (tfmot 0.8.1): their registries only swap the weight quantizer
    of tfmot's own Dense / Conv2D / DepthwiseConv2D configs
    (``Default8BitQuantizeConfig``, ``Default8BitConvQuantizeConfig``), and
    ``quantize_apply`` consults the scheme's registry only for layers
    annotated *without* a config -- the Embedding, Conv1D and custom-layer
    configs of ``converters.qat`` pass through unchanged, and the
    Embedding / Conv1D entries are commented out in both registries. Their
    layout transform would also fake-quantize the int32 ids. So this builds
    ``converters.qat``'s QAT model (same per-layer configs, same token-id
    scheme, same calibration) with the weight quantizer of every pruned /
    clustered weight replaced:

    - ``prune``: fake-quantize ``weight * mask``, the mask fixed at the
      stripped model's non-zeros (tfmot's PQAT does the same).
    - ``cluster``: fake-quantize ``centroids[indices]``, the assignment fixed
      at the stripped model's, the centroids (its distinct values) trained.
      tfmot's CQAT also re-assigns weights to centroids each step; fixed
      assignments are simpler and keep the count by construction.

    Dense layers get ``LayerQuantizeConfig(["kernel"], activation=True)``,
    what tfmot's registry gives Dense. A weight is preserved only where it
    has zeros (prune) or at most 256 distinct values (cluster).

    Args:
        model: a plain student from :func:`converters.sparsity.strip` (not bilstm: no QAT, see
            ``converters.qat.UNSUPPORTED``). It is not modified.
        kind: ``prune`` or ``cluster``.
        calibration: as for ``converters.qat.quantize_student``.

    Returns:
        A QAT model; train it as the float student, convert with
        ``converters.qat.qat_to_tflite``, check it with
        :func:`converters.weights.tflite_weight_report`.
    """
    if kind not in PRESERVE_KINDS:
        raise ConverterError(f"kind must be one of {', '.join(PRESERVE_KINDS)}, got {kind!r}")
    qkeras = tfmot.quantization.keras
    configs = {}
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.InputLayer):
            continue
        base = config_for(layer)  # raises ConfigError for bilstm
        if base is None and isinstance(layer, tf.keras.layers.Dense):
            base = LayerQuantizeConfig(weights=["kernel"], activation=True)
        if base is None or not base.weights:
            configs[layer.name] = base
            continue
        preserve = {}
        for name in base.weights:
            value = np.asarray(getattr(layer, name))
            if kind == "prune" and (value == 0).any():
                preserve[name] = ("prune", None)
            elif kind == "cluster" and np.unique(value).size <= MAX_CENTROIDS:
                preserve[name] = ("cluster", int(np.unique(value).size))
        configs[layer.name] = PreservingQuantizeConfig(base.weights, base.activation, base.output, preserve)

    def annotate(layer):
        fresh = type(layer).from_config(layer.get_config())
        return qkeras.quantize_annotate_layer(fresh, configs[layer.name])

    with qkeras.quantize_scope({**_custom_objects(), "PreservingQuantizeConfig": PreservingQuantizeConfig}):
        annotated = tf.keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        qat = qkeras.quantize_apply(annotated, TokenIdQuantizeScheme())
    for wrapper in qat.layers:
        for weight, quantizer, range_vars in getattr(wrapper, "_weight_vars", []):
            if isinstance(quantizer, _PreservingQuantizer):
                quantizer.init_from(weight.numpy(), range_vars)
            quantizer(weight, True, weights=range_vars)  # record the weight range (see quantize_student)
    if calibration is not None:
        _calibrate_ranges(model, qat, calibration)
    return qat
