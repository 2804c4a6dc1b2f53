"""Pruning and weight clustering for the kdedge students (tfmot 0.8.1), alone or with quantization-aware training.

Both leave the ``.tflite`` file as big as before (TFLite stores a pruned or
clustered tensor densely); they pay off compressed: zeros and a handful of
repeated values gzip far better than trained float or int8 weights. Report
both with :func:`tflite_sizes`.

Which weights are compressed, per layer (tfmot's registries for the Keras
layers, the ``PrunableLayer`` / ``ClusterableLayer`` interfaces here for
kdedge's custom layers):

    layer             magnitude pruning        2:4 pruning              clustering
    Embedding         embeddings               embeddings (*)           embeddings
    Conv1D            kernel                   -- (rank-3 kernel)       kernel
    Dense             kernel (not "logits")    kernel (not "logits")    kernel (not "logits")
    TransformerBlock  qkv/out/ff1/ff2 kernels  the same                 the same
    BiLSTMMaxPool     kernels, recurrent ones  the same                 -- (see UNCLUSTERABLE)
    PositionEmbedding, biases, layer norms: left dense (a few hundred values).

(*) tfmot's 2:4 groups 4 consecutive values along the *input* axis of a
rank-2 weight (axis 0 in TF's ``[in, out]`` layout, the last axis of
TFLite's ``[out, in]`` FULLY_CONNECTED weight, which is what sparse kernels
want). For the embedding table that axis is the vocabulary: each group is 4
consecutive rows of one column. tfmot 0.8.1 handles only rank 2 and rank 4
weights (``pruning_utils.weights_rearrange``), so Conv1D's ``[width, in, out]``
kernel stays dense under 2:4 (``ValueError: weight tensor with shape ... is not
supported`` otherwise). The 2:4 mask is computed once, at pruning step 1, and
kept (tfmot's ``conditional_mask_update``); the schedule only matters for
magnitude pruning.

The final ``logits`` Dense is skipped by default (``skip``): a few hundred
values whose every one moves the output directly.

Driving pruning in a custom loop (``kdedge.distill.train_student`` is a
``tf.GradientTape`` loop, not ``model.fit``): each ``PruneLowMagnitude``
wrapper counts its own steps. Every call of the model with ``training=True``
adds 1 to the wrapper's ``pruning_step``, recomputes the mask when the
schedule says so, and multiplies the weight by its mask before using it. What
tfmot's ``UpdatePruningStep`` callback adds is only (1) ``on_train_begin``:
``pruning_step`` -1 -> 0 (a training call at -1 fails with "Prune() wrapper
requires the UpdatePruningStep callback"), done here by :func:`prune_student`,
and (2) ``on_epoch_end``: re-apply the masks, because the last optimizer step
moves pruned weights off zero until the next call -- :func:`apply_masks`, which
:func:`strip` calls too. So any loop works unchanged as long as it calls the
model once per step with ``training=True`` (a second training-mode call per
step would count twice; evaluation must use ``training=False``)::

    pruned = prune_student(student, 0.5, "magnitude", begin_step=0, end_step=steps // 2, frequency=10)
    train_student(pruned, ...)          # or any GradientTape loop
    plain = strip(pruned)               # masks re-applied, wrappers gone
    content = keras_to_tflite(plain, "int8", representative)
    tflite_sizes(content)               # {"bytes": ..., "gzip_bytes": ...}

Wrapped layers are renamed by tfmot (``prune_low_magnitude_embedding``,
``cluster_embedding``), so ``model.get_layer("embedding")`` finds them only
after :func:`strip`.

Pruning- and cluster-preserving QAT: see :func:`preserve_qat`.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from kdedge.errors import ConfigError

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

STRUCTURES = ("magnitude", "2:4")
CLUSTER_INITS = ("kmeans++", "linear")

# kdedge custom layer -> the attributes holding its big weights (read from ``self`` in ``call``).
_CUSTOM_WEIGHTS = {
    "TransformerBlock": ("qkv_kernel", "out_kernel", "ff1_kernel", "ff2_kernel"),
}

UNCLUSTERABLE = {
    "BiLSTMMaxPool": (
        "bilstm's kernels are left unclustered: tfmot's ClusterWeights swaps a clustered weight in with "
        "setattr(layer, name, tensor), and BiLSTMMaxPool reads its kernels from the tuples in self.cells, "
        "not from attributes. It can be pruned (the pruning wrapper assigns masked values to the variables)."),
}


def _tfmot():
    import tensorflow_model_optimization as tfmot
    return tfmot


def _bilstm_prunable(layer) -> list:
    return [w for cell in layer.cells for w in cell[:2]]  # kernel, recurrent kernel; not the bias


_SUBCLASSES: dict = {}


def _compressible(base):
    """A subclass of the custom layer class ``base`` implementing tfmot's PrunableLayer and ClusterableLayer.

    Used only while compressing: :func:`strip` turns it back into ``base``.
    """
    if base not in _SUBCLASSES:
        tfmot = _tfmot()
        names = _CUSTOM_WEIGHTS.get(base.__name__, ())

        def get_prunable_weights(self):
            if base.__name__ == "BiLSTMMaxPool":
                return _bilstm_prunable(self)
            return [getattr(self, name) for name in names]

        def get_clusterable_weights(self):
            return [(name, getattr(self, name)) for name in names]

        _SUBCLASSES[base] = type(f"Compressible{base.__name__}",
                                 (base, tfmot.sparsity.keras.PrunableLayer, tfmot.clustering.keras.ClusterableLayer),
                                 {"get_prunable_weights": get_prunable_weights,
                                  "get_clusterable_weights": get_clusterable_weights})
    return _SUBCLASSES[base]


def _targets(model, skip, technique: str, structure: str = "magnitude") -> set[str]:
    """Names of the layers whose big weights ``technique`` compresses (see the module table)."""
    import tensorflow as tf

    layers = tf.keras.layers
    out = set()
    for layer in model.layers:
        name = type(layer).__name__
        if layer.name in skip:
            continue
        if isinstance(layer, (layers.Embedding, layers.Dense)):
            out.add(layer.name)
        elif isinstance(layer, layers.Conv1D) and not (technique == "prune" and structure == "2:4"):
            out.add(layer.name)
        elif name in _CUSTOM_WEIGHTS or (name == "BiLSTMMaxPool" and technique == "prune"):
            out.add(layer.name)
    return out


def _wrap_copy(model, wrap, targets: set[str]):
    """A copy of ``model`` with fresh layers holding its weights, the ``targets`` ones passed through ``wrap``.

    Each fresh layer is built and given its weights before it is wrapped: the
    clustering wrapper picks its centroids from the weights it sees when built.
    """
    import tensorflow as tf

    def clone(layer):
        cls = type(layer)
        if layer.name in targets and cls.__name__ in (*_CUSTOM_WEIGHTS, "BiLSTMMaxPool"):
            cls = _compressible(cls)
        fresh = cls.from_config(layer.get_config())  # a fresh layer: the input model gets no new nodes
        if layer.weights:
            fresh.build(layer.input_shape)
            fresh.set_weights(layer.get_weights())
        return wrap(fresh) if layer.name in targets else fresh

    return tf.keras.models.clone_model(model, clone_function=clone)


def prune_student(model, sparsity: float = 0.5, structure: str = "magnitude", begin_step: int = 0,
                  end_step: int = 1000, frequency: int = 100, skip: tuple[str, ...] = ("logits",)):
    """A copy of a student whose big weights are pruned to ``sparsity`` while it trains.

    Args:
        model: a student from ``kdedge.student.build_student`` (any arch). It
            is not modified.
        sparsity: final share of zeros per pruned weight, in (0, 1), for
            ``magnitude``; ``2:4`` is always 0.5.
        structure: ``magnitude`` (the smallest ``|w|`` of each weight, tfmot's
            PolynomialDecay from 0 to ``sparsity`` between ``begin_step`` and
            ``end_step``, a new mask every ``frequency`` steps) or ``2:4``
            (2 zeros in every 4 consecutive input-axis values; see the module
            docstring for which layers).
        begin_step, end_step, frequency: pruning steps (one per training-mode
            call of the model). ``end_step - begin_step`` must be a multiple of
            ``frequency``, else the final sparsity is never reached.
        skip: names of layers left dense.

    Returns:
        The wrapped model (layers ``prune_low_magnitude_<name>``), its
        ``pruning_step`` already at 0: train it with any loop that calls it
        once per step with ``training=True``, then :func:`strip` it.

    Raises:
        ConfigError: a bad argument.
    """
    tfmot = _tfmot()
    prune = tfmot.sparsity.keras
    if structure not in STRUCTURES:
        raise ConfigError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if structure == "magnitude":
        if not 0 < sparsity < 1:
            raise ConfigError(f"sparsity must be in (0, 1), got {sparsity}")
        if frequency < 1 or end_step <= begin_step or (end_step - begin_step) % frequency:
            raise ConfigError(f"need frequency >= 1 and end_step - begin_step a positive multiple of it, got "
                              f"begin_step {begin_step}, end_step {end_step}, frequency {frequency}")
        schedule = prune.PolynomialDecay(0.0, sparsity, begin_step, end_step, frequency=frequency)
        params = {"pruning_schedule": schedule}
    else:
        params = {"pruning_schedule": prune.ConstantSparsity(0.5, 0), "sparsity_m_by_n": (2, 4)}
    pruned = _wrap_copy(model, lambda layer: prune.prune_low_magnitude(layer, **params),
                        _targets(model, skip, "prune", structure))
    start_pruning(pruned)
    return pruned


def _prune_wrappers(model) -> list:
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
    return pruning_wrapper.collect_prunable_layers(model)


def start_pruning(model) -> None:
    """``UpdatePruningStep.on_train_begin``: a new pruned model's steps -1 -> 0 (a loaded, trained one keeps its)."""
    for layer in _prune_wrappers(model):
        if int(layer.pruning_step.numpy()) == -1:
            layer.pruning_step.assign(0)


def apply_masks(model) -> None:
    """``UpdatePruningStep.on_epoch_end``: multiply each pruned weight by its mask (after the last optimizer step)."""
    for layer in _prune_wrappers(model):
        layer.pruning_obj.weight_mask_op()


def pruning_step(model) -> int:
    """The pruning step of ``model``'s wrappers (all equal when trained as documented)."""
    steps = {int(layer.pruning_step.numpy()) for layer in _prune_wrappers(model)}
    if len(steps) != 1:
        raise ValueError(f"pruning wrappers disagree on the step: {sorted(steps)}")
    return steps.pop()


def cluster_student(model, clusters: int = 16, init: str = "kmeans++", skip: tuple[str, ...] = ("logits",)):
    """A copy of a student whose big weights take at most ``clusters`` distinct values, trainable centroids.

    Args:
        model: a student (any arch; bilstm's kernels stay unclustered, see
            :data:`UNCLUSTERABLE`). It is not modified.
        clusters: centroids per weight (tfmot: > 1).
        init: ``kmeans++`` or ``linear`` (evenly spaced between min and max).
        skip: names of layers left unclustered.

    Returns:
        The wrapped model (layers ``cluster_<name>``). Train it as the float
        student (tfmot moves the centroids and re-assigns weights each call),
        then :func:`strip` it.
    """
    tfmot = _tfmot()
    cluster = tfmot.clustering.keras
    if init not in CLUSTER_INITS:
        raise ConfigError(f"init must be one of {', '.join(CLUSTER_INITS)}, got {init!r}")
    if clusters < 2:
        raise ConfigError(f"clusters must be >= 2, got {clusters}")
    method = {"kmeans++": cluster.CentroidInitialization.KMEANS_PLUS_PLUS,
              "linear": cluster.CentroidInitialization.LINEAR}[init]
    return _wrap_copy(model, lambda layer: cluster.cluster_weights(layer, number_of_clusters=clusters,
                                                                   cluster_centroids_init=method),
                      _targets(model, skip, "cluster"))


def strip(model):
    """The plain student inside a pruned or clustered one, ready for ``keras_to_tflite``.

    Pruning masks are applied first (see :func:`apply_masks`). The returned
    model has the float student's layer classes and names, and fresh
    layers (no variable shared with ``model``).
    """
    import tensorflow as tf

    tfmot = _tfmot()
    apply_masks(model)
    plain = tfmot.clustering.keras.strip_clustering(tfmot.sparsity.keras.strip_pruning(model))
    # Clone once more, always: strip_pruning returns the wrapped layers themselves, whose first graph
    # node is in the pruned model (layer.output would point there), and the Compressible* classes go back.
    bases = {sub: base for base, sub in _SUBCLASSES.items()}

    def clone(layer):
        return bases.get(type(layer), type(layer)).from_config(layer.get_config())

    out = tf.keras.models.clone_model(plain, clone_function=clone)
    out.set_weights(plain.get_weights())
    return out


def _big_weights(layer) -> list[tuple[str, np.ndarray]]:
    """(name, value) of the weights this module compresses in a plain layer, or in the layer a wrapper holds."""
    import tensorflow as tf

    layer = getattr(layer, "layer", layer)
    name = type(layer).__name__
    if isinstance(layer, tf.keras.layers.Embedding):
        names = ["embeddings"]
    elif isinstance(layer, (tf.keras.layers.Conv1D, tf.keras.layers.Dense)):
        names = ["kernel"]
    elif name in _CUSTOM_WEIGHTS or any(name == f"Compressible{k}" for k in _CUSTOM_WEIGHTS):
        names = list(_CUSTOM_WEIGHTS[name.removeprefix("Compressible")])
    elif name.removeprefix("Compressible") == "BiLSTMMaxPool":
        return [(w.name.split("/")[-1].split(":")[0], w.numpy()) for w in _bilstm_prunable(layer)]
    else:
        return []
    return [(n, np.asarray(getattr(layer, n))) for n in names]


def sparsity_report(model) -> dict:
    """Per layer and big weight: size, share of exact zeros and number of distinct values.

    Run it on a stripped model (or any plain student) to check that pruning
    or clustering survived; on a QAT model from :func:`preserve_qat` use the
    converted file's weights instead (:func:`tflite_weight_report`), since
    what the wrapper stores is not what it fake-quantizes.

    Returns:
        ``{"<layer>/<weight>": {"size": n, "zeros": share, "unique": k}, ...}``
    """
    report = {}
    for layer in model.layers:
        for name, value in _big_weights(layer):
            report[f"{layer.name}/{name}"] = {"size": int(value.size), "zeros": float(np.mean(value == 0)),
                                              "unique": int(np.unique(value).size)}
    return report


def tflite_weight_report(content: bytes) -> dict:
    """:func:`sparsity_report` of a ``.tflite`` file: the weight input of each GATHER, CONV_2D, FULLY_CONNECTED.

    Values as stored (int8 for an int8 file), which is what gzip sees:
    ``zeros`` counts the stored values that dequantize to 0 (the zero point:
    post-training int8 quantizes the embedding table asymmetrically, so its
    zeros are stored as the zero point, not as 0), ``unique`` the distinct
    stored values, ``unique_per_channel`` the most in one output channel
    of a per-channel quantized weight (each channel has its own scale, so
    8 clustered floats give at most 8 values per channel, not per tensor).
    The TF 2.21 converter quantizes FULLY_CONNECTED and CONV_2D weights per
    channel in post-training int8, and re-quantizes the TransformerBlock's
    fake-quantized (per tensor) kernels per channel in a QAT file too.
    """
    from kdedge.runtime import TFLiteModel

    lite = TFLiteModel(content=content, xnnpack=False)
    interpreter = lite.interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    report = {}
    for op in interpreter._get_ops_details():
        position = {"GATHER": 0, "CONV_2D": 1, "FULLY_CONNECTED": 1}.get(op["op_name"])
        if position is None:
            continue
        detail = tensors[op["inputs"][position]]
        try:
            value = interpreter.get_tensor(detail["index"])
        except ValueError:  # not a constant
            continue
        params = detail["quantization_parameters"]
        zero = np.asarray(params["zero_points"]) if len(params["zero_points"]) else np.zeros(1, np.int64)
        if zero.size > 1:  # per channel: broadcast along the quantized axis
            shape = [1] * value.ndim
            shape[params["quantized_dimension"]] = zero.size
            zero = zero.reshape(shape)
        per_channel = len(params["scales"]) > 1
        channels = (np.moveaxis(value, params["quantized_dimension"], 0) if per_channel else value[None])
        report[detail["name"]] = {"size": int(value.size), "dtype": str(value.dtype),
                                  "zeros": float(np.mean(value == zero)), "unique": int(np.unique(value).size),
                                  "unique_per_channel": max(int(np.unique(c).size) for c in channels),
                                  "per_channel": per_channel}
    return report


def tflite_sizes(content: bytes) -> dict:
    """``{"bytes": raw size, "gzip_bytes": gzip -9 size}`` of a ``.tflite`` file (mtime 0: reproducible)."""
    return {"bytes": len(content), "gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0))}


# --- pruning- / cluster-preserving QAT -------------------------------------------------------------------------

PRESERVE_KINDS = ("prune", "cluster")
MAX_CENTROIDS = 256  # int8 has 256 levels: a weight with more distinct values was not clustered

_PRESERVE: dict | None = None


def _preserve_classes() -> dict:
    """The prune/cluster-preserving weight quantizers and QuantizeConfig (defined once, lazily)."""
    global _PRESERVE
    if _PRESERVE is None:
        _PRESERVE = _define_preserve()
    return _PRESERVE


def _define_preserve() -> dict:
    import tensorflow as tf

    from converters.qat import _configs

    tfmot = _tfmot()
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    LayerQuantizeConfig = _configs()["LayerQuantizeConfig"]

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

    return {"config": PreservingQuantizeConfig, "preserving": _PreservingQuantizer}


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
        model: a plain student from :func:`strip` (not bilstm: no QAT, see
            ``converters.qat.UNSUPPORTED``). It is not modified.
        kind: ``prune`` or ``cluster``.
        calibration: as for ``converters.qat.quantize_student``.

    Returns:
        A QAT model; train it as the float student, convert with
        ``converters.qat.qat_to_tflite``, check it with
        :func:`tflite_weight_report`.
    """
    import tensorflow as tf

    from converters.qat import _calibrate_ranges, _configs, _custom_objects, config_for

    if kind not in PRESERVE_KINDS:
        raise ConfigError(f"kind must be one of {', '.join(PRESERVE_KINDS)}, got {kind!r}")
    qkeras = _tfmot().quantization.keras
    classes = _preserve_classes()
    configs = {}
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.InputLayer):
            continue
        base = config_for(layer)  # raises ConfigError for bilstm
        if base is None and isinstance(layer, tf.keras.layers.Dense):
            base = _configs()["LayerQuantizeConfig"](weights=["kernel"], activation=True)
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
        configs[layer.name] = classes["config"](base.weights, base.activation, base.output, preserve)

    def annotate(layer):
        fresh = type(layer).from_config(layer.get_config())
        return qkeras.quantize_annotate_layer(fresh, configs[layer.name])

    with qkeras.quantize_scope({**_custom_objects(), "PreservingQuantizeConfig": classes["config"]}):
        annotated = tf.keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        qat = qkeras.quantize_apply(annotated, _configs()["TokenIdQuantizeScheme"]())
    for wrapper in qat.layers:
        for weight, quantizer, range_vars in getattr(wrapper, "_weight_vars", []):
            if isinstance(quantizer, classes["preserving"]):
                quantizer.init_from(weight.numpy(), range_vars)
            quantizer(weight, True, weights=range_vars)  # record the weight range (see quantize_student)
    if calibration is not None:
        _calibrate_ranges(model, qat, calibration)
    return qat
