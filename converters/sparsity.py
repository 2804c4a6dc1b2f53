"""Pruning and weight clustering for the kdedge students (tfmot 0.8.1), alone or with quantization-aware training.

Both leave the ``.tflite`` file as big as before (TFLite stores a pruned or
clustered tensor densely); they pay off compressed: zeros and a handful of
repeated values gzip far better than trained float or int8 weights. Report
both with :func:`converters.weights.tflite_sizes`; check what survived with
:func:`converters.weights.sparsity_report` / ``tflite_weight_report``.

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

Driving pruning in a custom loop (``kdedge.training.distill.train_student`` is a
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
    weights.tflite_sizes(content)       # {"bytes": ..., "gzip_bytes": ...}

Wrapped layers are renamed by tfmot (``prune_low_magnitude_embedding``,
``cluster_embedding``), so ``model.get_layer("embedding")`` finds them only
after :func:`strip`.

Pruning- and cluster-preserving QAT: :mod:`converters.preserve_qat`.
"""

from __future__ import annotations

import functools

import tensorflow as tf
import tensorflow_model_optimization as tfmot

from converters.errors import ConverterError, require_tf_keras

require_tf_keras(tf)

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


def _bilstm_prunable(layer) -> list:
    return [w for cell in layer.cells for w in cell[:2]]  # kernel, recurrent kernel; not the bias


@functools.cache
def _compressible(base):
    """A subclass of the custom layer class ``base`` implementing tfmot's PrunableLayer and ClusterableLayer.

    Made per class (converters know kdedge's layers by name only, never import them) and
    used only while compressing: :func:`strip` turns it back into ``base``.
    """
    names = _CUSTOM_WEIGHTS.get(base.__name__, ())

    def get_prunable_weights(self):
        if base.__name__ == "BiLSTMMaxPool":
            return _bilstm_prunable(self)
        return [getattr(self, name) for name in names]

    def get_clusterable_weights(self):
        return [(name, getattr(self, name)) for name in names]

    return type(f"Compressible{base.__name__}",
                (base, tfmot.sparsity.keras.PrunableLayer, tfmot.clustering.keras.ClusterableLayer),
                {"get_prunable_weights": get_prunable_weights, "get_clusterable_weights": get_clusterable_weights})


def _targets(model, skip, technique: str, structure: str = "magnitude") -> set[str]:
    """Names of the layers whose big weights ``technique`` compresses (see the module table)."""
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
        model: a student from ``kdedge.models.student.build_student`` (any arch). It
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
        ConverterError: a bad argument.
    """
    prune = tfmot.sparsity.keras
    if structure not in STRUCTURES:
        raise ConverterError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if structure == "magnitude":
        if not 0 < sparsity < 1:
            raise ConverterError(f"sparsity must be in (0, 1), got {sparsity}")
        if frequency < 1 or end_step <= begin_step or (end_step - begin_step) % frequency:
            raise ConverterError(f"need frequency >= 1 and end_step - begin_step a positive multiple of it, got "
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
    cluster = tfmot.clustering.keras
    if init not in CLUSTER_INITS:
        raise ConverterError(f"init must be one of {', '.join(CLUSTER_INITS)}, got {init!r}")
    if clusters < 2:
        raise ConverterError(f"clusters must be >= 2, got {clusters}")
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
    apply_masks(model)
    plain = tfmot.clustering.keras.strip_clustering(tfmot.sparsity.keras.strip_pruning(model))
    # Clone once more, always: strip_pruning returns the wrapped layers themselves, whose first graph
    # node is in the pruned model (layer.output would point there), and the Compressible* classes go back.
    def clone(layer):
        cls = type(layer)
        if cls.__name__.startswith("Compressible") and issubclass(cls, tfmot.sparsity.keras.PrunableLayer):
            cls = cls.__mro__[1]  # the kdedge layer _compressible() subclassed
        return cls.from_config(layer.get_config())

    out = tf.keras.models.clone_model(plain, clone_function=clone)
    out.set_weights(plain.get_weights())
    return out
