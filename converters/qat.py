"""Quantization-aware training (QAT) for the kdedge students, and their int8 TFLite export.

tfmot's ``quantize_model`` cannot quantize a student as it is (tfmot 0.8.1):

- its default registry has no ``Embedding``, ``Conv1D`` or RNN entries, nor
  kdedge's custom layers, so each needs a :class:`QuantizeConfig` here
  (:class:`LayerQuantizeConfig`);
- the model's input is int32 token ids, and the default layout transform puts
  a fake-quant layer (``QuantizeLayer``) right after every ``InputLayer`` whose
  consumers are quantized -- a float op on an int tensor, which fails.

:func:`quantize_student` annotates every layer with a config (ours or the
registry's) and applies them with a scheme that leaves the input alone.
:func:`qat_to_tflite` converts the trained QAT model to the same full-integer
file as ``keras_to_tflite(model, "int8", ...)``: int8 weights and activations,
builtin ops only, int32 ids in, float32 logits out.

What is fake-quantized while training, per layer:

    layer               weights (int8, symmetric)              output range
    Embedding           embeddings, per tensor                 -- (GATHER keeps the table's scale)
    Conv1D              kernel, per tensor (see config_for)    after the ReLU, learned (moving average)
    Dense               kernel, per tensor (tfmot's default)   after the activation, learned
    MaskedMean          --                                     learned
    PositionEmbedding   position table, per tensor             learned (after its layer norm)
    TransformerBlock    qkv/out/ff1/ff2 kernels, per tensor    learned (after its last layer norm)
    Dropout, GlobalMaxPooling1D, Concatenate: tfmot's registry (pass-through; concat output learned)

Tensors inside a custom layer (attention scores, softmax, layer-norm
statistics) are not fake-quantized while training: their int8 ranges are
calibrated at conversion on the representative examples, as in post-training
quantization. QAT here makes the weights and every layer boundary robust to
int8; the rest is PTQ.

``bilstm`` is not supported: see :data:`UNSUPPORTED`.

Saving: weights only (``qat.save_weights(path)``, a ``.weights.h5``), rebuilt on
the float student by :func:`load_qat`. A whole QAT model saved as ``.keras``
does not load back with tfmot 0.8.1 and tf-keras 2.21 (``Layer 'quant_embedding'
expected 4 variables, but received 5 variables during loading``:
``QuantizeWrapperV2`` lists the wrapped layer's weights once more when it is
built before the layer than when it is built after it, as on load;
tensorflow/model-optimization PR #1123, unmerged). The configs are registered
Keras objects (package ``kdedge``): no Lambda, no pickle.

Like every module of ``converters``, this one imports nothing of kdedge: it
takes models and returns models or bytes, and raises
:class:`converters.errors.ConverterError`; writing files is the caller's job.

Freezing a layer: ``qat.get_layer("quant_embedding").trainable = False``
does not take its weights out of ``qat.trainable_weights`` (tfmot 0.8.1's
``QuantizeWrapperV2`` keeps its own list); leave them out of the optimizer's
variables instead (``--freeze-embeddings``).

Example::

    qat = quantize_student(student, calibration=train_ids[:256])
    ...  # train qat like the float student; its layers are named quant_<name>
    qat.save_weights("qat.weights.h5")
    content = qat_to_tflite(qat, representative)  # representative as for keras_to_tflite int8
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_layout_transform as layout,
    default_8bit_quantize_registry as registry,
    default_8bit_quantize_scheme as scheme,
)

from converters.errors import ConverterError, require_tf_keras

require_tf_keras(tf)

quantizers = tfmot.quantization.keras.quantizers
register = tf.keras.utils.register_keras_serializable(package="kdedge")

QAT_ARCHS = ("cnn", "wordavg", "transformer")  # the kdedge student archs quantize_student takes

UNSUPPORTED = {
    "BiLSTMMaxPool": (
        "QAT does not support the bilstm student: tfmot 0.8.1 has no LSTM quantize config, and a fake-quantized "
        "bilstm converts (TF 2.21) to an int8 file whose UNIDIRECTIONAL_SEQUENCE_LSTM crashes LiteRT in "
        "allocate_tensors, where the post-training int8 file runs. Use --arch cnn, wordavg or transformer for "
        "QAT, or export bilstm with post-training quantization (dynamic or int8)."),
}


def weight_quantizer():
    # tfmot's default for Dense weights: one scale per tensor, symmetric, [-127, 127], the current min/max.
    return quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)


def activation_quantizer():
    # tfmot's default for activations: asymmetric, [-128, 127], ranges as moving averages (start [-6, 6]).
    return quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


@register
class LayerQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Fake-quantize named weight attributes, the ``activation`` attribute and/or the output of a layer.

    One class for every layer the tfmot registry lacks; the instances
    differ by arguments (see :func:`config_for`).

    Args:
        weights: attribute names of the weights to quantize; the layer's
            ``call`` must read them from ``self`` (the wrapper swaps each
            for its fake-quantized tensor before calling it).
        activation: quantize after ``layer.activation`` (Conv1D's ReLU),
            as tfmot does for Conv2D / Dense.
        output: quantize the layer's output.
    """

    def __init__(self, weights=(), activation: bool = False, output: bool = False):
        self.weights = list(weights)
        self.activation, self.output = activation, output

    def get_weights_and_quantizers(self, layer):
        return [(getattr(layer, name), weight_quantizer()) for name in self.weights]

    def set_quantize_weights(self, layer, quantize_weights):
        for name, value in zip(self.weights, quantize_weights, strict=True):
            setattr(layer, name, value)

    def get_activations_and_quantizers(self, layer):
        return [(layer.activation, activation_quantizer())] if self.activation else []

    def set_quantize_activations(self, layer, quantize_activations):
        if self.activation:
            layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return [activation_quantizer()] if self.output else []

    def get_config(self):
        return {"weights": self.weights, "activation": self.activation, "output": self.output}

    def __eq__(self, other):
        return isinstance(other, LayerQuantizeConfig) and self.get_config() == other.get_config()


class TokenIdLayoutTransform(layout.Default8BitQuantizeLayoutTransform):
    """tfmot's default layout transform, minus the fake-quant after the (int32 ids) input layers."""

    def apply(self, model, layer_quantize_map):
        # InputLayerQuantize only matches layers in the candidate set (the map's keys): drop the inputs.
        inputs = {layer.name for layer in model._input_layers}  # as quantize_apply finds them
        return super().apply(model, {k: v for k, v in layer_quantize_map.items() if k not in inputs})


class TokenIdQuantizeScheme(scheme.Default8BitQuantizeScheme):
    """tfmot's default 8-bit scheme (its registry and layout transforms) for models fed token ids."""

    def get_layout_transformer(self):
        return TokenIdLayoutTransform()


def _custom_objects() -> dict:
    return {"LayerQuantizeConfig": LayerQuantizeConfig}


def config_for(layer):
    """The QuantizeConfig for ``layer``, or None where tfmot's default registry has one.

    Raises:
        ConverterError: a layer that QAT does not support (see :data:`UNSUPPORTED`).
    """
    name = type(layer).__name__
    if name in UNSUPPORTED:
        raise ConverterError(UNSUPPORTED[name])
    config = LayerQuantizeConfig
    if isinstance(layer, tf.keras.layers.Embedding):
        # Per tensor: TFLite's int8 GATHER gives its output the table's scale and zero point, and every
        # activation tensor has one scale, so a per-channel table could not be gathered as int8. No
        # output quantizer: the gathered rows are already on the table's grid.
        return config(weights=["embeddings"])
    if isinstance(layer, tf.keras.layers.Conv1D):
        # Output quantized after the fused ReLU, as tfmot's Conv2D default. The kernel is per tensor, not
        # per channel as Conv2D's (and as PTQ int8 gives): Conv1D lowers to EXPAND_DIMS -> CONV_2D, and the
        # TF 2.21 converter keeps a per-channel kernel's quantized axis (2) through the EXPAND_DIMS, where it
        # must become 3 ("'tfl.reshape' op requires 'output' type ... to be cast compatible"). tfmot 0.8.1
        # cannot compute per-channel ranges of a 3-D kernel either (UnboundLocalError: reduce_dims).
        return config(weights=["kernel"], activation=True)
    if name == "MaskedMean":
        return config(output=True)
    if name == "PositionEmbedding":
        return config(weights=["position"], output=True)
    if name == "TransformerBlock":
        # Per tensor, as Dense: the kernels are FULLY_CONNECTED weights after conversion.
        return config(weights=["qkv_kernel", "out_kernel", "ff1_kernel", "ff2_kernel"], output=True)
    if registry.Default8BitQuantizeRegistry().supports(layer):
        return None
    raise ConverterError(f"QAT does not support layer {layer.name!r} ({name}): add a QuantizeConfig for it in "
                      "converters/qat.py")


def quantize_student(model, calibration: np.ndarray | None = None):
    """A quantization-aware copy of a student, ready to train as the float one.

    Args:
        model: a student from ``kdedge.models.student.build_student`` (or loaded), any
            arch but ``bilstm``. It is not modified.
        calibration: optional int32 ids ``[n, max_len]`` (e.g. a few hundred
            train rows). The learned output ranges start at tfmot's [-6, 6]
            and move as a 0.999 moving average -- thousands of steps -- so a
            trained student whose activations span ~0.1 would lose most of
            its signal at first. With ``calibration`` each range starts at
            the float model's min/max on these rows instead.

    Returns:
        A new ``tf.keras.Model`` (int32 ids in, float logits out) whose
        layers are ``QuantizeWrapperV2``s named ``quant_<layer>``, with the
        input model's weights.

    Raises:
        ConverterError: the model has a layer QAT does not support (``bilstm``).
    """
    qkeras = tfmot.quantization.keras
    configs = {layer.name: config_for(layer) for layer in model.layers
               if not isinstance(layer, tf.keras.layers.InputLayer)}

    def annotate(layer):
        # A fresh layer per clone, so the input model's layers get no new nodes.
        fresh = type(layer).from_config(layer.get_config())
        return qkeras.quantize_annotate_layer(fresh, configs[layer.name])

    with qkeras.quantize_scope(_custom_objects()):
        annotated = tf.keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        qat = qkeras.quantize_apply(annotated, TokenIdQuantizeScheme())
    for wrapper in qat.layers:
        # LastValueQuantizer records a weight's range only in a training call; until then it is tfmot's
        # initial [-6, 6], which would quantize a converted (or evaluated) but untrained model's ~0.1-sized
        # weights to 0. Record them now, as the first training step would.
        for weight, quantizer, range_vars in getattr(wrapper, "_weight_vars", []):
            quantizer(weight, True, weights=range_vars)
    if calibration is not None:
        _calibrate_ranges(model, qat, calibration)
    return qat


def _calibrate_ranges(model, qat, ids: np.ndarray) -> None:
    """Set each learned output range of ``qat`` to the float ``model``'s min/max on ``ids``."""
    targets = []  # (range variables, float layer whose output they quantize)
    for wrapper in qat.layers:
        for var in wrapper.weights:
            base = var.name.split("/")[-1].split(":")[0]
            if base in ("output_min", "post_activation_min"):
                targets.append((var, next(v for v in wrapper.weights if v.name == var.name.replace("_min", "_max")),
                                model.get_layer(wrapper.layer.name)))
    if not targets:
        return
    probe = tf.keras.Model(model.inputs, [layer.output for _, _, layer in targets])
    outputs = probe(np.asarray(ids, np.int32), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for (lo, hi, _), out in zip(targets, outputs, strict=True):
        # Keep 0 inside the range (TFLite's zero point must be an integer in range).
        lo.assign(min(float(tf.reduce_min(out)), 0.0))
        hi.assign(max(float(tf.reduce_max(out)), 0.0))


def qat_to_tflite(qat_model, representative: Callable[[], Iterable[list[np.ndarray]]]) -> bytes:
    """Convert a trained QAT model to a full-integer int8 TFLite flatbuffer (builtin ops only).

    The I/O contract of ``converters.keras_to_tflite(model, "int8", ...)``:
    int32 ids in, float32 logits out, int8 in between. The fake-quant ranges
    learned in training are kept; tensors without one (inside the custom
    layers) are calibrated on ``representative``.

    Args:
        qat_model: a model from :func:`quantize_student` (trained or not), or
            :func:`load_qat`. It is not modified.
        representative: a callable yielding lists of input arrays, one list
            per example (``[ids[None]]``), e.g. train rows.

    Returns:
        The ``.tflite`` file contents.
    """
    from converters.keras_to_tflite import keras_to_tflite

    return keras_to_tflite(qat_model, "int8", representative)


def load_qat(student, path: str | Path):
    """Rebuild a QAT model from its float ``student`` (architecture) and its saved weights (``.weights.h5``).

    Args:
        student: a float student of the same architecture and sizes, e.g.
            ``kdedge.models.student.load_student(".../student.keras")``; only its
            architecture is used. It is not modified.
        path: the ``.weights.h5`` file.

    Returns:
        The QAT model, as it was saved (weights and quantization ranges).
    """
    qat = quantize_student(student)
    qat.load_weights(str(path))
    return qat
